"""The signal handlers that keep every mirror equal to its relation, in the writer's
transaction.

Each write finds the parents it touches, locks them *before* it changes any row where it
can (so two writers of the same parent queue up instead of deadlocking), and recomputes
them after the change from the through table:

- ``m2m_changed`` (add, remove, clear, set; from either side; explicit through models
  too): the instance and/or ``pk_set``; a clear from the related side asks the through
  table first (``pre_clear``).
- a related object deleted, with Django's own through table (its rows go by a cascade
  that sends no ``m2m_changed``): the parents linked to it, asked before the delete.
- an explicit through model: its ``save`` (old and new parent) and ``delete`` signals,
  which also cover removals and clears through the relation managers, and every cascade.
- a related object saved with a new value of a mirrored attribute (``fields``): the
  parents linked to it, asked after its UPDATE.

State between a ``pre_`` and a ``post_`` signal lives on the instance (or on the delete's
origin, so that deleting many objects recomputes their parents once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import connections
from django.db.models import Model
from django.db.models.signals import (
    m2m_changed,
    post_delete,
    post_save,
    pre_delete,
    pre_save,
)

from django_pareto.denorm import registry
from django_pareto.denorm.mirror import Mirror
from django_pareto.denorm.values import same
from django_pareto.denorm.vendor import capabilities

PENDING = "_pareto_denorm_pending"


@dataclass
class Pending:
    parents: set[Any] = field(default_factory=set)
    locked: bool = True  # every parent was locked before the change (write() is enough)
    related: set[Any] = field(default_factory=set)  # related objects whose links went


def _stash(holder: Any, mirror: Mirror, parents: set[Any], locked: bool, related: Any = ()) -> None:
    pending = holder.__dict__.setdefault(PENDING, {})
    entry = pending.setdefault(mirror.label, Pending())
    entry.parents |= parents
    entry.locked = entry.locked and locked
    entry.related.update(related)


def _take(holder: Any, mirror: Mirror) -> Pending | None:
    pending: dict[str, Pending] = holder.__dict__.get(PENDING, {})
    return pending.pop(mirror.label, None)


def _finish(mirror: Mirror, pending: Pending, using: str) -> dict[Any, Any]:
    """Recompute the parents; returns the values written when they are known."""
    values: dict[Any, Any] = {}
    if pending.locked:
        values = mirror.write(pending.parents, using)
    else:
        mirror.sync(pending.parents, using)
    if pending.related and capabilities(connections[using]).row_locks:
        # With concurrent writers, a link added and committed after the parents were
        # looked up may have been deleted with the others (a clear or a cascade deletes
        # by the related column, seeing every committed row): its parent still names the
        # related object in its copy, so ask the copies too.
        seen = set().union(*(mirror.parents_having(pk, using) for pk in pending.related))
        if seen - pending.parents:
            mirror.sync(seen - pending.parents, using)
    return values


def _refresh(instance: Any, mirror: Mirror, values: dict[Any, Any]) -> None:
    """The instance in hand gets the value just written (when it holds the field)."""
    held = isinstance(instance, mirror.model) and mirror.attname in instance.__dict__
    if held and instance.pk in values:
        instance.__dict__[mirror.attname] = values[instance.pk]


# -- many-to-many changes --------------------------------------------------------------------


def on_m2m_changed(
    sender: type[Model],
    instance: Model,
    action: str,
    model: type[Model],
    pk_set: set[Any] | None,
    using: str,
    **kwargs: Any,
) -> None:
    locked: list[tuple[type[Model], set[Any]]] = []  # mirrors of one model lock it once
    for mirror in registry.index().through(sender):
        explicit = not mirror.relation.auto_created
        if action in ("pre_add", "post_add") or (
            not explicit and action in ("pre_remove", "post_remove")
        ):
            parents = _touched(mirror, instance, model, pk_set)
            if not parents:
                continue
            if action.startswith("pre_"):
                if (mirror.model, parents) not in locked:
                    mirror.lock(parents, using, existing=action == "pre_add")
                    locked.append((mirror.model, parents))
            else:  # Django runs pre_, the change and post_ in one transaction: still locked
                _refresh(instance, mirror, mirror.write(parents, using))
        elif explicit:
            # Removals and clears delete rows of the explicit through model one by one:
            # its delete signals see exactly which (on_through_*_delete).
            continue
        elif action == "pre_clear":
            parents = _cleared(mirror, instance, using)
            related = [instance.pk] if isinstance(instance, mirror.relation.related_model) else []
            _stash(instance, mirror, parents, mirror.lock(parents, using), related)
        elif action == "post_clear":
            pending = _take(instance, mirror)
            if pending is not None:
                _refresh(instance, mirror, _finish(mirror, pending, using))


def _touched(
    mirror: Mirror, instance: Model, model: type[Model], pk_set: set[Any] | None
) -> set[Any]:
    """The parents whose links an add or a remove changes: the instance, the objects
    added or removed, or both (a relation from a model to itself)."""
    if not pk_set:
        return set()
    parents = set()
    if isinstance(instance, mirror.model):
        parents.add(instance.pk)
    if issubclass(model, mirror.model):
        parents |= pk_set
    return parents


def _cleared(mirror: Mirror, instance: Model, using: str) -> set[Any]:
    """The parents whose links a clear from ``instance`` deletes."""
    parents = set()
    if isinstance(instance, mirror.model):
        parents.add(instance.pk)
    if isinstance(instance, mirror.relation.related_model):
        parents |= mirror.parents_of([instance.pk], using)
    return parents


# -- related objects deleted (Django's own through table) ------------------------------------


def on_related_pre_delete(
    sender: type[Model], instance: Model, using: str, origin: Any = None, **kwargs: Any
) -> None:
    for mirror in registry.index().related(sender):
        if mirror.relation.auto_created:
            parents = mirror.parents_of([instance.pk], using)
            holder = origin if origin is not None else instance
            _stash(holder, mirror, parents, mirror.lock(parents, using), [instance.pk])


def on_related_post_delete(
    sender: type[Model], instance: Model, using: str, origin: Any = None, **kwargs: Any
) -> None:
    # The first post_delete of a delete comes after every row of the cascade is gone:
    # it recomputes the parents of all the deleted objects at once.
    for mirror in registry.index().related(sender):
        if mirror.relation.auto_created:
            pending = _take(origin if origin is not None else instance, mirror)
            if pending is not None:
                _finish(mirror, pending, using)


# -- an explicit through model written directly ----------------------------------------------


def on_through_pre_save(
    sender: type[Model],
    instance: Model,
    using: str,
    update_fields: frozenset[str] | None = None,
    **kwargs: Any,
) -> None:
    mirrors = registry.index().through(sender)
    fks = {fk for m in mirrors for fk in (m.relation.parent_fk, m.relation.related_fk)}
    names = {name for fk in fks for name in (fk.name, fk.attname)}
    if update_fields is not None and not names & set(update_fields):
        return  # no link changes (e.g. save(update_fields=["minutes"]))
    old = _old_values(sender, instance, using, sorted(fk.attname for fk in fks))
    for mirror in mirrors:
        parent, related = mirror.relation.parent_fk.attname, mirror.relation.related_fk.attname
        now = {parent: getattr(instance, parent), related: getattr(instance, related)}
        if old is None:
            parents = {now[parent]}  # a new link
        elif old[parent] == now[parent] and old[related] == now[related]:
            continue  # the same link, other columns changed
        else:
            parents = {old[parent], now[parent]}
        _stash(instance, mirror, parents, mirror.lock(parents, using))


def on_through_post_save(sender: type[Model], instance: Model, using: str, **kwargs: Any) -> None:
    for mirror in registry.index().through(sender):
        pending = _take(instance, mirror)
        if pending is not None:
            _finish(mirror, pending, using)


def on_through_pre_delete(
    sender: type[Model], instance: Model, using: str, origin: Any = None, **kwargs: Any
) -> None:
    # No query and no lock per row: the parents are recomputed once, after the delete
    # (locked then, in pk order, which is as safe: the last writer to lock recomputes last).
    for mirror in registry.index().through(sender):
        parent = getattr(instance, mirror.relation.parent_fk.attname)
        _stash(origin if origin is not None else instance, mirror, {parent}, locked=False)


def on_through_post_delete(
    sender: type[Model], instance: Model, using: str, origin: Any = None, **kwargs: Any
) -> None:
    for mirror in registry.index().through(sender):
        pending = _take(origin if origin is not None else instance, mirror)
        if pending is not None:
            _finish(mirror, pending, using)


def _old_values(
    model: type[Model], instance: Model, using: str, attnames: list[str]
) -> dict[str, Any] | None:
    """The row as stored before this save, or None for a new row."""
    if instance.pk is None:
        return None
    row = model._base_manager.using(using).filter(pk=instance.pk).values_list(*attnames).first()
    return None if row is None else dict(zip(attnames, row, strict=True))


# -- related objects saved (mirrors with ``fields``) -----------------------------------------


def on_related_pre_save(
    sender: type[Model],
    instance: Model,
    using: str,
    update_fields: frozenset[str] | None = None,
    **kwargs: Any,
) -> None:
    # The columns each mirror copies; with update_fields, only the mirrors it writes to.
    watching = {
        mirror: [sender._meta.get_field(name).attname for name in mirror.fields]  # type: ignore[union-attr]
        for mirror in registry.index().related(sender)
        if mirror.fields
    }
    if update_fields is not None:
        written = set(update_fields)
        watching = {m: cols for m, cols in watching.items() if written & {*m.fields, *cols}}
    if not watching:
        return
    old = _old_values(
        sender, instance, using, sorted({c for cols in watching.values() for c in cols})
    )
    if old is None:
        return  # a new row: nothing links to it yet
    for mirror, columns in watching.items():
        if not all(same(old[c], getattr(instance, c)) for c in columns):
            _stash(instance, mirror, set(), locked=False)  # the parents come after the UPDATE


def on_related_post_save(sender: type[Model], instance: Model, using: str, **kwargs: Any) -> None:
    for mirror in registry.index().related(sender):
        if mirror.fields and _take(instance, mirror) is not None:
            mirror.resync_related(instance.pk, using)


# -- wiring ---------------------------------------------------------------------------------


def connect(index: registry.Index) -> None:
    """Connect the handlers to exactly the models whose writes concern a mirror (a
    listener on every model would cost every delete of the site its fast path)."""

    def listen(signal: Any, handler: Any, model: type[Model]) -> None:
        for sender in registry.senders(model):
            signal.connect(handler, sender=sender, dispatch_uid=f"pareto.denorm.{handler.__name__}")

    for through in index.by_through:
        m2m_changed.connect(on_m2m_changed, sender=through, dispatch_uid="pareto.denorm.m2m")
        if not through._meta.auto_created:
            listen(pre_save, on_through_pre_save, through)
            listen(post_save, on_through_post_save, through)
            listen(pre_delete, on_through_pre_delete, through)
            listen(post_delete, on_through_post_delete, through)
    for related, mirrors in index.by_related.items():
        if any(m.relation.auto_created for m in mirrors):
            listen(pre_delete, on_related_pre_delete, related)
            listen(post_delete, on_related_post_delete, related)
        if any(m.fields for m in mirrors):
            listen(pre_save, on_related_pre_save, related)
            listen(post_save, on_related_post_save, related)
