"""Filling and checking mirrors in bulk: what ``pareto denorm backfill`` and
``pareto denorm check`` run, and what ``BackfillMirror`` runs inside a migration.

Both walk the parents in pk order, a batch at a time, and go through ``Mirror.sync`` (lock,
recompute, write what differs), so they are safe while the site runs and a batch is
never half written. Backfill keeps no state of its own: an interrupted run is resumed by
running it again, with ``resume=True`` to revisit only the rows still holding the default
``[]`` (a row whose relation is empty is recomputed again, which costs one query).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import connections, router
from django.db.models import QuerySet

from django_pareto.denorm.mirror import Mirror
from django_pareto.denorm.registry import mirrors


class SelectionError(ValueError):
    """A --model that names no mirror."""


def select(names: Iterable[str] = ()) -> list[Mirror]:
    """The mirrors named ``app_label.Model`` (all of its mirrors) or
    ``app_label.Model.field``; every mirror when no name is given."""
    found = mirrors()
    names = list(names)
    if not names:
        return found
    chosen: list[Mirror] = []
    for name in names:
        parts = name.split(".")
        if len(parts) not in (2, 3):
            raise SelectionError(f"{name!r}: use app_label.Model or app_label.Model.field")
        field_name = parts[2] if len(parts) == 3 else None
        try:
            model = apps.get_model(parts[0], parts[1])
        except LookupError:
            raise SelectionError(f"no model {'.'.join(parts[:2])!r}") from None
        matching = [
            m for m in found if m.model is model and (not field_name or m.name == field_name)
        ]
        if not matching:
            raise SelectionError(f"{name!r} has no mirrored field")
        chosen += [m for m in matching if m not in chosen]
    return chosen


def on_database(mirror: Mirror, using: str | None = None) -> str | None:
    """The database the mirror's table lives in, or None when it isn't on ``using``
    (a model for another vendor, or routed elsewhere)."""
    alias = mirror.db(using)
    model = mirror.model
    if model._meta.can_migrate(connections[alias]) and router.allow_migrate_model(alias, model):
        return alias
    return None


@dataclass
class BackfillResult:
    mirror: str
    database: str
    rows: int  # parents visited
    written: int  # rows whose value changed


def to_fill(mirror: Mirror, using: str, resume: bool = False) -> QuerySet[Any, Any]:
    rows = mirror.model._base_manager.using(using).order_by("pk")
    return rows.filter(**{mirror.name: []}) if resume else rows


def backfill(
    mirror: Mirror,
    *,
    using: str | None = None,
    batch_size: int = 1000,
    resume: bool = False,
    on_rows: Callable[[int], None] | None = None,
) -> BackfillResult:
    """Fill the mirror for every parent, ``batch_size`` parents per transaction."""
    using = mirror.db(using)
    rows = to_fill(mirror, using, resume)
    result = BackfillResult(mirror.label, using, rows=0, written=0)
    last = None
    while True:
        page = rows if last is None else rows.filter(pk__gt=last)
        pks = list(page.values_list("pk", flat=True)[:batch_size])
        if not pks:
            return result
        result.written += mirror.sync(pks, using=using)
        result.rows += len(pks)
        last = pks[-1]
        if on_rows is not None:
            on_rows(len(pks))


@dataclass
class DriftReport:
    mirror: str
    database: str
    rows: int  # parents checked
    drifted: list[Any] = field(default_factory=list)  # their pks
    repaired: int = 0


def check(mirror: Mirror, *, using: str | None = None, repair: bool = False) -> DriftReport:
    """Compare every parent's copy with its relation; with ``repair``, rewrite those that
    differ (locked and recomputed again, so a change made meanwhile is not undone)."""
    using = mirror.db(using)
    report = DriftReport(mirror.label, using, rows=mirror.model._base_manager.using(using).count())
    report.drifted = mirror.drift(using=using)
    if repair and report.drifted:
        report.repaired = mirror.sync(report.drifted, using=using)
    return report
