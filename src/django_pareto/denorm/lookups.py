"""``has``: filter parents by their copy, in SQL an index can serve.

``Article.objects.filter(tag_ids__has=3)`` (``tag_info__has=3`` matches the ``"id"`` key)
compiles to a containment test on PostgreSQL (``col @> '[3]'::jsonb``, ``col @>
ARRAY[3]``), which a GIN index on the column answers, and to a ``json_each`` scan on
SQLite. The value may be a related object, a pk, or an expression (``OuterRef("pk")``).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import NotSupportedError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Lookup, Model
from django.db.models.sql.compiler import SQLCompiler

from django_pareto.denorm.relation import PK_KEY
from django_pareto.denorm.values import jsonable

Params = tuple[Any, ...]


class Has(Lookup):
    lookup_name = "has"
    prepare_rhs = False

    def get_prep_lookup(self) -> Any:
        value = self.rhs
        if hasattr(value, "resolve_expression"):
            return value
        if isinstance(value, Model):
            value = value.pk
        field = self.lhs.output_field
        related_pk = _related_pk_field(field)
        if related_pk is not None:
            value = related_pk.get_prep_value(value)  # "3" -> 3, as filter(pk=...) does
        return jsonable(value) if getattr(field, "stores_json", True) else value

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> tuple[str, Params]:
        raise NotSupportedError(
            f"the {self.lookup_name!r} lookup of mirrored fields is implemented for "
            f"PostgreSQL and SQLite, not {connection.vendor}"
        )

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, Params]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        keyed = bool(getattr(field, "mirror_fields", ()))
        if not getattr(field, "stores_json", True):  # an array of pks
            rhs, rhs_params = self._rhs(compiler)
            return f"{lhs} @> ARRAY[{rhs}]::{field.db_type(connection)}", (
                *lhs_params,
                *rhs_params,
            )
        if self.rhs_is_direct_value():
            item = {PK_KEY: self.rhs} if keyed else self.rhs
            return f"{lhs} @> %s::jsonb", (*lhs_params, json.dumps([item]))
        rhs, rhs_params = self._rhs(compiler)
        item_sql = f"jsonb_build_object('{PK_KEY}', {rhs})" if keyed else rhs
        return f"{lhs} @> jsonb_build_array({item_sql})", (*lhs_params, *rhs_params)

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, Params]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self._rhs(compiler)
        keyed = bool(getattr(self.lhs.output_field, "mirror_fields", ()))
        item = f"json_extract(json_each.value, '$.{PK_KEY}')" if keyed else "json_each.value"
        sql = f"EXISTS (SELECT 1 FROM json_each({lhs}) WHERE {item} = {rhs})"
        return sql, (*lhs_params, *rhs_params)

    def _rhs(self, compiler: SQLCompiler) -> tuple[str, Params]:
        if self.rhs_is_direct_value():
            return "%s", (self.rhs,)
        sql, params = compiler.compile(self.rhs)
        return f"({sql})", tuple(params)


def _related_pk_field(field: Any) -> Any:
    """The related model's pk field, when the mirror's relation can be resolved."""
    from django_pareto.denorm.fields import MirrorFieldMixin

    if not isinstance(field, MirrorFieldMixin):
        return None
    try:
        return field.mirror.relation.related_model._meta.pk
    except ImproperlyConfigured:
        return None
