"""``BackfillMirror``: the migration operation that fills a mirror added by ``AddField``.

    migrations.AddField("article", "tag_ids", MirrorField("tags")),
    BackfillMirror(model_name="article", name="tag_ids"),

It reads the relation through the migration's historical models (which send no signals)
and writes every row in batches, inside the migration's transaction. Reversing it does
nothing: the field's removal, if any, is the AddField's to reverse.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState

DEFAULT_BATCH_SIZE = 1000


class BackfillMirror(Operation):
    reversible = True
    reduces_to_sql = False  # data, not schema: nothing to print in sqlmigrate

    def __init__(self, model_name: str, name: str, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self.model_name = model_name
        self.name = name
        self.batch_size = batch_size

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {"model_name": self.model_name, "name": self.name}
        if self.batch_size != DEFAULT_BATCH_SIZE:
            kwargs["batch_size"] = self.batch_size
        return self.__class__.__qualname__, [], kwargs

    @property
    def model_name_lower(self) -> str:
        return self.model_name.lower()

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        pass  # the state is the AddField's

    def database_forwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        from django_pareto.denorm.fields import MirrorFieldMixin
        from django_pareto.denorm.maintenance import backfill

        model = to_state.apps.get_model(app_label, self.model_name)
        alias = schema_editor.connection.alias
        if not self.allow_migrate_model(alias, model):
            return
        field = model._meta.get_field(self.name)
        if not isinstance(field, MirrorFieldMixin):
            raise ValueError(
                f"BackfillMirror: {app_label}.{self.model_name}.{self.name} is a "
                f"{type(field).__name__}, not a MirrorField or MirrorArrayField"
            )
        # The historical field's own Mirror: it resolves the relation among the historical
        # models, so the through table is read as it is at this point of the migrations.
        backfill(field.mirror, using=alias, batch_size=self.batch_size)

    def database_backwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        pass

    def describe(self) -> str:
        return f"Fill the mirrored field {self.name} of {self.model_name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"backfill_{self.model_name_lower}_{self.name.lower()}"

    def references_model(self, name: str, app_label: str) -> bool:
        return True  # it reads the relation's models too: never optimized across
