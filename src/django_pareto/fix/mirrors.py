"""An ``AddMirror`` as migration operations and the lines to add to ``models.py``.

The runtime (``django_pareto.denorm``) is never imported here: the field and the backfill
operation are stand-ins that ``MigrationWriter`` writes under the runtime's public names,
``from django_pareto.denorm import MirrorField`` and
``from django_pareto.denorm.operations import BackfillMirror``, so the text of a migration
is the same whether or not the runtime is installed where ``pareto fix`` runs.
"""

from __future__ import annotations

import re
from typing import Any, cast

from django.db import migrations
from django.db.migrations.operations.base import Operation

from django_pareto.analyze.denormalize_fix import field_code
from django_pareto.analyze.findings import AddMirror

RUNTIME = "django_pareto.denorm"
OPERATIONS = f"{RUNTIME}.operations"
# What the migration text names, by module: ``import x`` + ``x.Name(`` become
# ``from x import Name`` + ``Name(``.
_PUBLIC = {RUNTIME: ("MirrorArrayField", "MirrorField"), OPERATIONS: ("BackfillMirror",)}


class _Field:
    """Stands for a ``MirrorField`` in a migration: it deconstructs to the runtime's path."""

    def __init__(self, mirror: AddMirror) -> None:
        self.mirror = mirror

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kind = "MirrorArrayField" if self.mirror.array else "MirrorField"
        kwargs = {"fields": list(self.mirror.fields)} if self.mirror.fields else {}
        return f"{RUNTIME}.{kind}", [self.mirror.relation], kwargs


class BackfillMirror(Operation):
    """Stands for ``django_pareto.denorm.operations.BackfillMirror`` in a written migration:
    never applied from here (the written file imports the real one)."""

    def __init__(self, model_name: str, name: str) -> None:
        self.model_name = model_name
        self.name = name

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return "BackfillMirror", [], {"model_name": self.model_name, "name": self.name}

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass  # it fills rows: the schema Django knows about is unchanged

    def describe(self) -> str:
        return f"Fill {self.model_name}.{self.name} from its relation"


# MigrationWriter writes an operation as `import <its class's module>` + `<module>.<Name>(`.
BackfillMirror.__module__ = OPERATIONS


def operations(mirror: AddMirror, concurrently: bool) -> list[Operation]:
    """AddField, BackfillMirror, and the GinIndex when the finding asks for one."""
    model_name = mirror.model.lower()
    found: list[Operation] = [
        # The stand-in is not a models.Field: it only has to serialize.
        migrations.AddField(
            model_name=model_name, name=mirror.name, field=cast(Any, _Field(mirror))
        ),
        BackfillMirror(model_name=model_name, name=mirror.name),
    ]
    if mirror.gin_index:
        # django.contrib.postgres needs psycopg, which SQLite sites lack: imported here.
        from django.contrib.postgres.indexes import GinIndex
        from django.contrib.postgres.operations import AddIndexConcurrently

        index = GinIndex(
            fields=[mirror.name], name=mirror.gin_index, opclasses=list(_opclasses(mirror))
        )
        add = AddIndexConcurrently if concurrently else migrations.AddIndex
        found.append(add(model_name=model_name, index=index))
    return found


def _opclasses(mirror: AddMirror) -> tuple[str, ...]:
    # The copy is only filtered by containment (@>, the ``has`` lookup): jsonb_path_ops
    # serves it with a smaller, faster index than the default jsonb_ops. An array keeps
    # array_ops, the only GIN class it has.
    return () if mirror.array else ("jsonb_path_ops",)


def models_code(mirror: AddMirror) -> str:
    """The lines to add to the model (so that makemigrations sees no drift)."""
    kind = "MirrorArrayField" if mirror.array else "MirrorField"
    lines = [f"from {RUNTIME} import {kind}"]
    if mirror.gin_index:
        lines.append("from django.contrib.postgres.indexes import GinIndex")
    lines += ["", field_code(mirror)]
    if mirror.gin_index:
        lines += [
            "",
            "class Meta:",
            "    indexes = [",
            f'        GinIndex(fields=["{mirror.name}"], name="{mirror.gin_index}"'
            + "".join(f', opclasses=["{c}"]' for c in _opclasses(mirror))
            + "),",
            "    ]",
        ]
    return "\n".join(lines)


def reads_summary(mirror: AddMirror) -> str:
    var = mirror.model.lower()
    where = f" (at {', '.join(mirror.reads)})" if mirror.reads else ""
    return (
        f"Read {var}.{mirror.name} instead of {var}.{mirror.relation} where the copy is "
        f"enough{where}, and drop the prefetch of {mirror.relation} there"
    )


def reads_code(mirror: AddMirror) -> str:
    var = mirror.model.lower()
    if mirror.fields:
        keys = ", ".join(f'"{f}": ...' for f in mirror.fields)
        shape = f'[{{"id": ..., {keys}}}, ...] sorted by id'
    else:
        shape = f"the pks of {var}.{mirror.relation}.all(), sorted"
    lines = [f"{var}.{mirror.name}  # {shape}"]
    if mirror.gin_index:
        lines.append(f"{mirror.model}.objects.filter({mirror.name}__has=pk)  # GinIndex-served")
    return "\n".join(lines)


def tidy_imports(text: str) -> str:
    """The runtime's names imported by name, as a person writes them; Django's order kept."""
    lines = text.split("\n")
    if not any(f"import {module}" in lines for module in _PUBLIC):
        return text
    for module, names in _PUBLIC.items():
        statement = f"import {module}"
        if statement not in lines:
            continue
        used = [n for n in names if f"{module}.{n}(" in text]
        if not used:
            continue
        for name in used:
            text = re.sub(rf"\b{re.escape(module)}\.{name}\(", f"{name}(", text)
        lines = text.split("\n")
        lines[lines.index(statement)] = f"from {module} import {', '.join(used)}"
        text = "\n".join(lines)
    return _sort_imports(text)


def _sort_imports(text: str) -> str:
    """Sort the import block as MigrationWriter does: plain imports, then from-imports."""
    lines = text.split("\n")
    block = [i for i, line in enumerate(lines) if line.startswith(("import ", "from "))]
    if not block:
        return text
    first, last = block[0], block[-1]
    if last - first + 1 != len(block):
        return text  # not one contiguous block: leave it as written
    ordered = sorted(lines[first : last + 1], key=lambda i: (i.split()[0] == "from", i.split()[1]))
    return "\n".join([*lines[:first], *ordered, *lines[last + 1 :]])
