"""Write a fix plan as migration files, with Django's own ``MigrationWriter``.

Dependencies come from the migration graph (the app's leaf node), the file name from the
app's next number, the text from ``MigrationWriter`` so it reads as ``makemigrations`` output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from django.db import migrations
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.writer import MigrationWriter

from django_pareto.fix import mirrors
from django_pareto.fix.plan import FixError, FixPlan, PlannedMigration

_NAME_LIMIT = 52  # keeps "0042_pareto_...py" readable and under filesystem limits


@dataclass(frozen=True)
class RenderedMigration:
    app_label: str
    name: str
    path: Path
    text: str


def render_migrations(
    plan: FixPlan, *, include_header: bool = True, loader: MigrationLoader | None = None
) -> list[RenderedMigration]:
    """The files ``write_migrations`` would write, without writing them (the dry run)."""
    loader = loader or MigrationLoader(None, ignore_no_migrations=True)
    return [_render(planned, loader, include_header) for planned in plan.migrations]


def write_migrations(plan: FixPlan) -> list[Path]:
    written = []
    for rendered in render_migrations(plan):
        if rendered.path.exists():
            raise FixError(f"{rendered.path} exists already; it was not overwritten")
        rendered.path.parent.mkdir(parents=True, exist_ok=True)
        rendered.path.write_text(rendered.text, encoding="utf-8")
        written.append(rendered.path)
    return written


def _leaf(loader: MigrationLoader, app_label: str) -> tuple[str, str]:
    leaves = loader.graph.leaf_nodes(app_label)
    if not leaves:
        raise FixError(
            f"app {app_label!r} has no migrations yet: run `manage.py makemigrations "
            f"{app_label}` first"
        )
    if len(leaves) > 1:
        names = ", ".join(name for _, name in leaves)
        raise FixError(
            f"app {app_label!r} has conflicting leaf migrations ({names}): run "
            "`manage.py makemigrations --merge` first"
        )
    app, name = leaves[0]
    return str(app), str(name)


def _render(
    planned: PlannedMigration, loader: MigrationLoader, include_header: bool
) -> RenderedMigration:
    leaf = _leaf(loader, planned.app_label)
    match = re.match(r"(\d+)_", leaf[1])
    number = int(match.group(1)) + 1 if match else 1
    name = f"{number:04d}_{_suggest_name(planned)}"
    # A class with class attributes, as in a migration file (and as Django reads them).
    cls = type(
        "Migration",
        (migrations.Migration,),
        {
            "operations": list(planned.operations),
            "dependencies": [leaf, *(_leaf(loader, a) for a in sorted(planned.depends_on_apps))],
            "atomic": planned.atomic,
        },
    )
    migration = cls(name, planned.app_label)
    writer = MigrationWriter(migration, include_header=include_header)
    text = mirrors.tidy_imports(writer.as_string())
    if not planned.atomic and "\n    atomic = False\n" not in text:
        # MigrationWriter writes `atomic` since Django 6.0; before, it was left out, and
        # CREATE INDEX CONCURRENTLY fails inside the migration's transaction.
        head = "class Migration(migrations.Migration):\n"
        text = text.replace(head, head + "\n    atomic = False\n", 1)
    return RenderedMigration(planned.app_label, name, Path(writer.path), text)


def _suggest_name(planned: PlannedMigration) -> str:
    # Not Migration.suggest_name(): it falls back to a timestamp for RunSQL, and the
    # names here must be the same on every run (golden files, reviews).
    parts = [*planned.field_names, *planned.index_names]
    name = "pareto_" + "_".join(n.lower() for n in parts)
    if len(name) <= _NAME_LIMIT:
        return name
    return "pareto_indexes" if not planned.field_names else "pareto_denormalize"
