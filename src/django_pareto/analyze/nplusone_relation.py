"""From a per-row query's shape to the ORM relation that issued it.

A loop over parent rows that touches a relation sends one query per row whose filter
column tells the relation:

- ``WHERE auth_user.id = %s`` (the target's key): a forward FK / one-to-one of some model
  pointing at ``auth_user`` (``Article.author``);
- ``WHERE blog_comment.article_id = %s`` (a FK column): the reverse side of that FK on the
  model it points to (``Article.comments``; a one-to-one: ``User.profile``);
- ``WHERE blog_article_tags.article_id = %s`` on an auto-created through table: the
  many-to-many (``Article.tags``, or ``Tag.articles`` from the other side).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.db import models

from django_pareto.analyze.nplusone_sql import Column, QueryShape
from django_pareto.analyze.schema import SchemaMap

# Relation kinds (as in analyze/schema.py) that select_related() can follow in one JOIN.
JOINABLE = frozenset({"forward_fk", "one_to_one", "reverse_one_to_one"})


@dataclass(frozen=True)
class Access:
    """``parent.<accessor>`` read once per parent row."""

    parent: type[models.Model]  # the model whose rows are looped over
    accessor: str  # "author", "comments", "tags"
    kind: str  # "forward_fk", "one_to_one", "reverse_one_to_one", "reverse_fk", "m2m"
    target: type[models.Model]  # the model the per-row query reads
    column: Column  # the filter column that carries the parent row's key
    # For a reverse FK and a m2m: the field of the queried model (of the through model
    # for a m2m) that points back at the parent: what Exists()/Count() filter on.
    back_field: str | None = None

    @property
    def label(self) -> str:
        return f"{self.parent._meta.label}.{self.accessor}"

    @property
    def joinable(self) -> bool:
        return self.kind in JOINABLE


def accesses(shape: QueryShape, schema: SchemaMap) -> list[Access]:
    """Every relation that could have sent this query per row, FK columns first.

    A foreign key column in WHERE is a stronger sign than a primary key: in
    ``WHERE through.article_id = %s AND auth_user.id = %s`` the loop is over articles.
    """
    by_fk: list[Access] = []
    by_key: list[Access] = []
    for table, column in shape.equals:
        field = schema.field(table, column)
        model = schema.model(table)
        if field is None or model is None:
            continue
        if field.is_relation and (field.many_to_one or field.one_to_one):
            by_fk.extend(_reverse(model, field, (table, column)))
        elif field.primary_key or field.unique:
            by_key.extend(_forward(model, field, (table, column)))
    return by_fk + by_key


def _forward(target: type[models.Model], key: models.Field, column: Column) -> list[Access]:  # type: ignore[type-arg]
    """Foreign keys and one-to-ones, on any model, that point at ``target`` by ``key``."""
    found = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if not (field.many_to_one or field.one_to_one) or field.related_model is not target:
                continue
            if getattr(field, "target_field", None) != key:
                continue
            kind = "one_to_one" if field.one_to_one else "forward_fk"
            found.append(Access(model, field.name, kind, target, column))
    return found


def _reverse(
    model: type[models.Model],
    fk: models.Field,  # type: ignore[type-arg]
    column: Column,
) -> list[Access]:
    """The accessor on the model ``fk`` points to that reads ``model`` back through it."""
    parent = fk.related_model
    if not isinstance(parent, type):
        return []
    if model._meta.auto_created:  # an auto-created many-to-many through table
        return _many_to_many(model, parent, column, fk)
    for rel in parent._meta.related_objects:
        if rel.field is fk and not rel.many_to_many:
            accessor = rel.get_accessor_name()
            if accessor is None:  # related_name="+": no way back from the parent
                return []
            kind = "reverse_one_to_one" if rel.one_to_one else "reverse_fk"
            return [Access(parent, accessor, kind, model, column, back_field=fk.name)]
    return []


def _many_to_many(
    through: type[models.Model],
    parent: type[models.Model],
    column: Column,
    fk: models.Field,  # type: ignore[type-arg]
) -> list[Access]:
    found = []
    # The forward side: Product.tags, its through table filtered by product_id.
    for field in parent._meta.many_to_many:
        if field.remote_field.through is through and field.m2m_column_name() == column[1]:
            target = field.related_model
            if isinstance(target, type):
                found.append(Access(parent, field.name, "m2m", target, column, fk.name))
    # The reverse side: Tag.products, the same through table filtered by tag_id.
    for rel in parent._meta.related_objects:
        if not rel.many_to_many or rel.through is not through:  # type: ignore[attr-defined]
            continue
        accessor = rel.get_accessor_name()
        if accessor and rel.field.m2m_reverse_name() == column[1]:  # type: ignore[attr-defined]
            found.append(Access(parent, accessor, "m2m", rel.related_model, column, fk.name))
    return found
