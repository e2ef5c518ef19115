"""``MirrorField``: a JSON copy of a many-to-many relation, kept in sync by the app.

    tag_ids = MirrorField("tags")                           # [3, 7, 12]
    tag_info = MirrorField("tags", fields=["name", "slug"])  # [{"id": 3, "name": ..., ...}]

The field is never edited by hand and never written back by ``save()``: the app's signal
handlers (apps.py) own its value. See docs/denorm.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from django.db import models
from django.db.models import F, Model

from django_pareto.denorm.lookups import Has
from django_pareto.denorm.mirror import Mirror

# What every mirror is, whatever its declaration says.
FIXED_OPTIONS = {"editable": False, "default": list, "blank": True}


class MirrorFieldMixin:
    """What both mirror fields share: the relation they copy, and how a save treats them."""

    relation_name: str
    mirror_fields: tuple[str, ...] = ()
    stores_json = True  # JSON values (JSON-native types), or native pks in an array
    public_path = ""  # the path deconstruct() writes into migrations

    # Provided by Field.
    name: str
    attname: str
    model: type[Model]

    def _init_mirror(
        self, relation: str, fields: Sequence[str] | None, options: dict[str, Any]
    ) -> None:
        kind = type(self).__name__
        if not isinstance(relation, str) or not relation:
            raise TypeError(f"{kind}() takes the name of a many-to-many relation, e.g. 'tags'")
        if isinstance(fields, str) or not all(isinstance(f, str) for f in fields or ()):
            raise TypeError(f"{kind}(fields=...) takes a list of field names, e.g. ['name']")
        given = sorted(set(options) & set(FIXED_OPTIONS))
        if given:
            raise TypeError(
                f"{kind} sets {', '.join(given)} itself: a mirror is never edited by hand"
            )
        self.relation_name = relation
        self.mirror_fields = tuple(fields or ())
        options.update(FIXED_OPTIONS)

    @cached_property
    def mirror(self) -> Mirror:
        """How this field is kept in sync (resolved on first use: the relation must exist)."""
        return Mirror(self)

    def contribute_to_class(self, cls: type[Model], name: str, private_only: bool = False) -> None:
        # A field copied to a subclass of an abstract model mirrors that subclass.
        self.__dict__.pop("mirror", None)
        super().contribute_to_class(cls, name, private_only)  # type: ignore[misc]

    def pre_save(self, model_instance: Model, add: bool) -> Any:
        if add:
            # A new row has no relations yet, whatever the instance carries (a copy of
            # another row, saved with pk=None, carries the other row's value).
            value: list[Any] = []
            setattr(model_instance, self.attname, value)
            return value
        # An update never writes the copy back: the instance's value may be older than the
        # row's (a relation change from another process, or through a queryset). Django 6
        # reads the column back after the save (RETURNING); before that, the attribute is
        # dropped so that it is loaded from the row on its next access.
        model_instance.__dict__.pop(self.attname, None)
        return F(self.attname)

    def _mirror_deconstruct(self, kwargs: dict[str, Any]) -> tuple[str, list[Any], dict[str, Any]]:
        for option in FIXED_OPTIONS:
            kwargs.pop(option, None)
        if self.mirror_fields:
            kwargs["fields"] = list(self.mirror_fields)
        return self.public_path, [self.relation_name], kwargs


class MirrorField(MirrorFieldMixin, models.JSONField):
    """A JSON list that mirrors a many-to-many relation: sorted related pks, or with
    ``fields``, one object per related row, ``{"id": pk, field: value, ...}``, sorted by pk."""

    description = "A JSON copy of a many-to-many relation"
    public_path = "django_pareto.denorm.MirrorField"

    def __init__(
        self, relation: str, *, fields: Sequence[str] | None = None, **kwargs: Any
    ) -> None:
        self._init_mirror(relation, fields, kwargs)
        super().__init__(**kwargs)

    def deconstruct(self) -> Any:
        name, _path, _args, kwargs = super().deconstruct()
        path, args, kwargs = self._mirror_deconstruct(kwargs)
        return name, path, args, kwargs


MirrorField.register_lookup(Has)
