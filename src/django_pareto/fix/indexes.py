"""An ``IndexSpec`` as Django objects: a ``models.Index``, its migration operation, its SQL,
and the ``Meta.indexes`` line that keeps models and migrations in agreement."""

from __future__ import annotations

from typing import Any

from django.db import connections, migrations, models
from django.db.migrations.operations.base import Operation
from django.db.models import functions

from django_pareto.analyze.findings import IndexSpec

# Analyzers write expressions and conditions as Python text ('Upper("username")',
# 'Q(is_featured=True)'); they are evaluated with only these names and no builtins.
_NAMES: dict[str, Any] = {name: getattr(functions, name) for name in functions.__all__}
_NAMES.update(F=models.F, Q=models.Q, Value=models.Value)


def evaluate(text: str) -> Any:
    return eval(text, {"__builtins__": {}}, dict(_NAMES))


def build_index(spec: IndexSpec) -> models.Index:
    kwargs: dict[str, Any] = {"name": spec.name}
    if spec.condition:
        kwargs["condition"] = evaluate(spec.condition)
    if spec.expressions:
        return models.Index(*(evaluate(e) for e in spec.expressions), **kwargs)
    return models.Index(fields=list(spec.fields), **kwargs)


def add_operation(spec: IndexSpec, concurrently: bool) -> Operation:
    index = build_index(spec)
    if concurrently:
        # Imported here: django.contrib.postgres needs psycopg, which SQLite sites lack.
        from django.contrib.postgres.operations import AddIndexConcurrently

        return AddIndexConcurrently(model_name=spec.model.lower(), index=index)
    return migrations.AddIndex(model_name=spec.model.lower(), index=index)


def remove_operation(spec: IndexSpec, concurrently: bool) -> Operation:
    if concurrently:
        from django.contrib.postgres.operations import RemoveIndexConcurrently

        return RemoveIndexConcurrently(model_name=spec.model.lower(), name=spec.name)
    return migrations.RemoveIndex(model_name=spec.model.lower(), name=spec.name)


def create_sql(spec: IndexSpec, model: type[models.Model], concurrently: bool) -> str:
    """The CREATE INDEX statement: the analyzer's, else the one Django would run."""
    sql = spec.sql.strip().rstrip(";")
    if not sql:
        # Building the statement needs no database round trip, only the vendor's quoting.
        editor = connections["default"].schema_editor()
        sql = str(build_index(spec).create_sql(model, editor))
    if concurrently and " CONCURRENTLY " not in sql.upper():
        head, _, tail = sql.partition("INDEX ")
        sql = f"{head}INDEX CONCURRENTLY {tail}"
    return sql


def drop_sql(spec: IndexSpec, concurrently: bool) -> str:
    return f'DROP INDEX {"CONCURRENTLY " if concurrently else ""}IF EXISTS "{spec.name}"'


def meta_index_code(spec: IndexSpec) -> str:
    """The line to add to the model's ``Meta.indexes``, as a person would write it."""
    fields = ", ".join(f'"{f}"' for f in spec.fields)
    parts = [*spec.expressions] if spec.expressions else [f"fields=[{fields}]"]
    parts.append(f'name="{spec.name}"')
    if spec.condition:
        parts.append(f"condition={spec.condition}")
    return f"models.Index({', '.join(parts)}),"


def meta_imports(spec: IndexSpec) -> list[str]:
    """Imports the ``Meta.indexes`` line needs beyond ``from django.db import models``."""
    text = " ".join([*spec.expressions, spec.condition or ""])
    used = sorted(name for name in _NAMES if f"{name}(" in text)
    wanted = [n for n in used if n in functions.__all__]
    imports = []
    if wanted:
        imports.append(f"from django.db.models.functions import {', '.join(wanted)}")
    core = [n for n in ("F", "Q", "Value") if n in used]
    if core:
        imports.append(f"from django.db.models import {', '.join(core)}")
    return imports
