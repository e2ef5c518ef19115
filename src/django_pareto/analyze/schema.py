"""Tables and columns mapped back to Django models, fields and relations.

Pure introspection of the app registry (no database access), so that a finding can say
``Article.author`` instead of ``blog_article.author_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from django.apps import apps
from django.db import models


@dataclass(frozen=True)
class Relation:
    """A way from one model to another, as the ORM names it on the source model."""

    model: type[models.Model]  # the model the accessor is on
    accessor: str  # "author", "comments", "tags"
    kind: str  # "forward_fk", "one_to_one", "reverse_fk", "reverse_one_to_one", "m2m"
    target: type[models.Model]

    @property
    def label(self) -> str:
        return f"{self.model._meta.label}.{self.accessor}"


class SchemaMap:
    """Lookups over every installed model (auto-created M2M through tables included)."""

    @cached_property
    def _tables(self) -> dict[str, type[models.Model]]:
        found: dict[str, type[models.Model]] = {}
        for model in apps.get_models(include_auto_created=True):
            found.setdefault(model._meta.db_table, model)
        return found

    def model(self, table: str) -> type[models.Model] | None:
        return self._tables.get(table)

    def field(self, table: str, column: str) -> models.Field | None:  # type: ignore[type-arg]
        model = self.model(table)
        if model is None:
            return None
        for f in model._meta.concrete_fields:
            if f.column == column:
                return f
        return None

    def relations(self, model: type[models.Model]) -> list[Relation]:
        """Every relation reachable from ``model`` by an accessor on it."""
        result: list[Relation] = []
        for f in model._meta.get_fields():
            if not f.is_relation or f.related_model is None or isinstance(f.related_model, str):
                continue
            target = f.related_model
            if f.many_to_many:
                accessor = f.name if not f.auto_created else f.get_accessor_name()  # type: ignore[union-attr]
                kind = "m2m"
            elif f.one_to_one:
                if f.auto_created and not f.concrete:
                    accessor, kind = f.get_accessor_name(), "reverse_one_to_one"  # type: ignore[union-attr]
                else:
                    accessor, kind = f.name, "one_to_one"
            elif f.many_to_one:
                accessor, kind = f.name, "forward_fk"
            elif f.one_to_many:
                accessor, kind = f.get_accessor_name(), "reverse_fk"  # type: ignore[union-attr]
            else:
                continue
            if accessor:
                result.append(Relation(model, accessor, kind, target))
        return result
