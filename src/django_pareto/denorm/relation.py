"""What a mirror copies: a many-to-many relation, seen from the model that holds the copy.

Whether the mirror names a forward relation (``Article.tags``) or a reverse one (``Tag``'s
``articles``), it comes down to the same three things: the through table, the column of
the through table that points at the mirror's own model (the *parent*), and the column
that points at the other side (the *related* model). Everything else works on these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models
from django.db.models import ForeignKey, ManyToManyField, ManyToManyRel, Model

# The key of the related object's primary key in a ``fields`` mirror: {"id": 3, ...}.
PK_KEY = "id"


@dataclass(frozen=True)
class Relation:
    model: type[Model]  # the parent: the model that holds the mirror
    name: str  # the relation as the mirror names it
    related_model: type[Model]
    through: type[Model]
    parent_fk: ForeignKey[Any, Any]  # the through table's column to the parent
    related_fk: ForeignKey[Any, Any]  # and to the related model
    # A symmetrical relation to self (``friends = ManyToManyField("self")``): Django writes
    # a row each way, the second one *after* m2m_changed's post_add, so a link is read
    # from either column.
    symmetrical: bool = False

    @property
    def directions(self) -> list[tuple[ForeignKey[Any, Any], ForeignKey[Any, Any]]]:
        """The (parent column, related column) pairs a link can be stored in."""
        one = (self.parent_fk, self.related_fk)
        return [one, (self.related_fk, self.parent_fk)] if self.symmetrical else [one]

    @property
    def auto_created(self) -> bool:
        """Django's own through table: written only by the relation managers."""
        return bool(self.through._meta.auto_created)

    def parents_of(self, related_pks: Any, using: str) -> set[Any]:
        """The parents linked to these related objects, from the through table."""
        related_pks = list(related_pks)
        parents: set[Any] = set()
        for parent_fk, related_fk in self.directions:
            rows = self.through._base_manager.using(using).filter(
                **{f"{related_fk.attname}__in": related_pks}
            )
            parents.update(rows.order_by().values_list(parent_fk.attname, flat=True).distinct())
        return parents


def resolve(model: type[Model], name: str, where: str) -> Relation:
    """The many-to-many relation ``name`` of ``model``, forward or reverse.

    ``where`` names the mirror in error messages (``"blog.Article.tag_ids"``).
    """
    opts = model._meta
    try:
        field: Any = opts.get_field(name)
    except FieldDoesNotExist:
        # A reverse relation is also known by its accessor, e.g. "article_set".
        field = next((r for r in opts.related_objects if r.get_accessor_name() == name), None)
    if field is None or not field.many_to_many:
        kind = "no field" if field is None else f"a {type(field).__name__}, not a many-to-many"
        raise ImproperlyConfigured(
            f"{where} mirrors {name!r}, but {opts.label} has {kind} relation of that name. "
            f"Its many-to-many relations: {', '.join(_m2m_names(model)) or 'none'}."
        )
    if isinstance(field, ManyToManyField):
        m2m: ManyToManyField[Any, Any] = field
        if m2m.model is not model:
            raise ImproperlyConfigured(
                f"{where} mirrors {name!r}, which {m2m.model._meta.label} declares: "
                f"put the mirror on {m2m.model._meta.label}."
            )
        parent_name, related_name = m2m.m2m_field_name(), m2m.m2m_reverse_field_name()
        related_model = m2m.remote_field.model
        symmetrical = bool(m2m.remote_field.symmetrical) and related_model is model
    elif isinstance(field, ManyToManyRel):
        m2m = field.field
        parent_name, related_name = m2m.m2m_reverse_field_name(), m2m.m2m_field_name()
        related_model = field.related_model
        symmetrical = False  # a symmetrical relation has no reverse accessor
    else:  # e.g. a GenericRelation
        raise ImproperlyConfigured(
            f"{where} mirrors {name!r}, which is not a many-to-many relation through a table."
        )
    through = m2m.remote_field.through
    if not isinstance(through, type) or not isinstance(related_model, type):
        raise ImproperlyConfigured(
            f"{where}: the relation {name!r} is not resolved yet; use mirrors once the app "
            "registry is ready."
        )
    parent_fk: Any = through._meta.get_field(parent_name)
    related_fk: Any = through._meta.get_field(related_name)
    for fk in (parent_fk, related_fk):
        if not fk.target_field.primary_key:
            raise ImproperlyConfigured(
                f"{where}: {through._meta.label}.{fk.name} points at "
                f"{fk.target_field.model._meta.label}.{fk.target_field.name}; a mirror needs "
                "the through table's foreign keys to hold primary keys."
            )
    return Relation(
        model=model,
        name=name,
        related_model=related_model,
        through=through,
        parent_fk=parent_fk,
        related_fk=related_fk,
        symmetrical=symmetrical,
    )


def check_fields(relation: Relation, names: tuple[str, ...], where: str) -> None:
    """Every mirrored attribute is a column of the related model."""
    opts = relation.related_model._meta
    for name in names:
        try:
            field = opts.get_field(name)
        except FieldDoesNotExist:
            columns = ", ".join(f.name for f in opts.concrete_fields)
            raise ImproperlyConfigured(
                f"{where} mirrors fields={list(names)!r}, but {opts.label} has no field "
                f"{name!r}. Its columns: {columns}."
            ) from None
        if not getattr(field, "concrete", False) or field.many_to_many or field.one_to_many:
            raise ImproperlyConfigured(
                f"{where} mirrors {opts.label}.{name}, which is not a column; a mirror "
                "copies columns of the related rows only."
            )
        if name == PK_KEY and not field.primary_key:  # type: ignore[union-attr]
            raise ImproperlyConfigured(
                f"{where}: {opts.label}.{name} would collide with the {PK_KEY!r} key that "
                "holds the related primary key."
            )


def _m2m_names(model: type[Model]) -> list[str]:
    opts = model._meta
    forward = [f.name for f in opts.many_to_many if f.model is model]
    reverse = [
        r.get_accessor_name() or r.name
        for r in opts.related_objects
        if r.many_to_many and isinstance(r, models.ManyToManyRel) and not r.hidden
    ]
    return sorted(forward) + sorted(reverse)
