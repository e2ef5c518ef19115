"""``MirrorArrayField``: the related pks in a PostgreSQL array of the pk's own type.

    tag_pks = MirrorArrayField("tags")  # bigint[] {3,7,12} for a BigAutoField pk

Needs ``django.contrib.postgres`` (and psycopg), which is why it lives apart from
``MirrorField``: importing ``django_pareto.denorm`` never imports them.
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models import Field

from django_pareto.denorm import relation as relations
from django_pareto.denorm.fields import MirrorFieldMixin
from django_pareto.denorm.lookups import Has

# Auto-incrementing pks hold plain integers; checked in this order because
# isinstance(BigAutoField(), AutoField) is true.
_AUTO_TO_PLAIN: tuple[tuple[type[Field[Any, Any]], type[Field[Any, Any]]], ...] = (
    (models.BigAutoField, models.BigIntegerField),
    (models.SmallAutoField, models.SmallIntegerField),
    (models.AutoField, models.IntegerField),
)
# The options of a pk field that shape its column type (the rest is about the pk role).
_TYPE_OPTIONS = ("max_length", "max_digits", "decimal_places", "db_collation")


class MirrorArrayField(MirrorFieldMixin, ArrayField):  # type: ignore[type-arg]
    """The sorted pks of a many-to-many relation in an array (PostgreSQL only).

    The array's element type follows the related model's pk: it is resolved from the
    relation once the model is loaded (historical models in migrations included), so
    migrations hold ``MirrorArrayField("tags")`` and nothing else, unless ``base_field``
    was given explicitly.
    """

    description = "An array copy of a many-to-many relation's pks"
    public_path = "django_pareto.denorm.MirrorArrayField"
    stores_json = False

    def __init__(self, relation: str, *, base_field: Field[Any, Any] | None = None, **kwargs: Any):
        self._init_mirror(relation, None, kwargs)
        self._base_explicit = self._base_resolved = base_field is not None
        # A stand-in until the relation is known: only an unbound field (one in a migration's
        # state) keeps it, and an unbound field never reaches the database.
        super().__init__(base_field or models.BigIntegerField(), **kwargs)

    @property
    def base_field(self) -> Field[Any, Any]:
        if not self._base_resolved and self._relation_loaded():
            try:
                related = relations.resolve(self.model, self.relation_name, self.mirror.label)
            except ImproperlyConfigured:
                pass  # reported by the app's ready(); keep the stand-in meanwhile
            else:
                resolved = pk_element_field(related.related_model._meta.pk)
                resolved.set_attributes_from_name(self.name)
                resolved.model = self.model
                self._base, self._base_resolved = resolved, True
        return self._base

    @base_field.setter
    def base_field(self, value: Field[Any, Any]) -> None:
        self._base = value

    def _relation_loaded(self) -> bool:
        """Whether this field's model is registered and every model is loaded: before, a
        reverse relation may not exist yet."""
        model = self.__dict__.get("model")
        if model is None or not model._meta.apps.models_ready:
            return False
        opts = model._meta
        return bool(opts.apps.all_models[opts.app_label].get(opts.model_name) is model)

    def deconstruct(self) -> Any:
        name, _path, _args, kwargs = super().deconstruct()
        kwargs.pop("size", None)
        if not self._base_explicit:
            # Derived from the relation wherever the field is bound to a model; an unbound
            # field (a migration's state) can't know it, and must compare equal.
            kwargs.pop("base_field", None)
        path, args, kwargs = self._mirror_deconstruct(kwargs)
        return name, path, args, kwargs


def pk_element_field(pk: Field[Any, Any]) -> Field[Any, Any]:
    """A plain field of the pk's column type: the array's element."""
    if isinstance(pk, models.ForeignKey):  # a multi-table child's pk points at its parent's
        return pk_element_field(pk.target_field)
    for auto, plain in _AUTO_TO_PLAIN:
        if isinstance(pk, auto):
            return plain()
    _name, _path, args, kwargs = pk.deconstruct()
    return type(pk)(*args, **{k: v for k, v in kwargs.items() if k in _TYPE_OPTIONS})


MirrorArrayField.register_lookup(Has)
