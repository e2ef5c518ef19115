"""From a diagnosis to a fix plan: migrations per app, code hints, and what was skipped.

``plan_fixes`` reads only the diagnosis and the app registry (no database, no files
written), so the plan can be tested, printed as a dry run, or written.
"""

from __future__ import annotations

import inspect
import site
import sysconfig
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path

import django
from django.apps import apps
from django.db import models
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations.base import Operation
from django.db.migrations.operations.models import RemoveIndex
from django.db.migrations.operations.special import RunSQL
from django.db.migrations.state import ModelState, ProjectState

from django_pareto.analyze.denormalize import CONTRIB_POSTGRES_VENDORS
from django_pareto.analyze.findings import AddMirror, Finding, IndexSpec
from django_pareto.backends import backend_class
from django_pareto.doctor import Diagnosis
from django_pareto.fix import indexes, mirrors


class FixError(Exception):
    """A fix cannot be planned or written; the message says which app and why."""


@dataclass(frozen=True)
class CodeHint:
    """A change to make by hand: a line in a view, a ``Meta.indexes`` entry."""

    finding: str  # "pareto.N001"
    title: str
    summary: str
    location: str | None = None  # "file:line"
    code: str | None = None


@dataclass(frozen=True)
class Skipped:
    finding: str
    title: str
    reason: str


@dataclass
class PlannedMigration:
    app_label: str
    operations: list[Operation] = field(default_factory=list)
    atomic: bool = True
    # Other apps whose latest migration this one must follow (RunSQL on their tables).
    depends_on_apps: set[str] = field(default_factory=set)
    findings: list[str] = field(default_factory=list)
    index_names: list[str] = field(default_factory=list)
    field_names: list[str] = field(default_factory=list)  # "article_tag_ids": fields added


@dataclass
class FixPlan:
    run: str
    vendor: str
    migrations: list[PlannedMigration] = field(default_factory=list)
    hints: list[CodeHint] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _loader: MigrationLoader | None = field(default=None, repr=False, compare=False)
    _state: ProjectState | None = field(default=None, repr=False, compare=False)

    def migration_for(self, app_label: str) -> PlannedMigration:
        for planned in self.migrations:
            if planned.app_label == app_label:
                return planned
        planned = PlannedMigration(app_label)
        self.migrations.append(planned)
        return planned


def plan_fixes(
    diagnosis: Diagnosis,
    vendor: str,
    allow_drop: bool = False,
    app_override: str | None = None,
    only: Collection[str] | None = None,
) -> FixPlan:
    """Turn index and mirror findings into migration operations, the rest into code hints.

    ``only``: finding ids ("pareto.D001", or "D001") to act on; the others are left out.
    """
    plan = FixPlan(run=diagnosis.run, vendor=vendor)
    wanted = None if only is None else {i if "." in i else f"pareto.{i}" for i in only}
    if app_override is not None and not is_writable(app_override):
        raise FixError(
            f"--app {app_override}: not an installed app of this project with migrations"
        )
    backend = backend_class(vendor)
    concurrently = backend is not None and backend.supports_concurrent_index_builds
    seen: set[str] = set()
    for finding in diagnosis.findings:
        if wanted is not None and finding.id not in wanted:
            continue
        spec = finding.fix.add_index or finding.fix.remove_index
        mirror = finding.fix.add_mirror
        if mirror is not None:
            key = f"{mirror.app_label}.{mirror.model}.{mirror.name}"
            if key not in seen:
                seen.add(key)
                _plan_mirror(plan, finding, mirror, concurrently)
        elif spec is None:
            plan.hints.append(_code_hint(finding))
        elif spec.name in seen:
            continue  # two findings asking for the same index: one operation
        elif finding.fix.remove_index is not None and not allow_drop:
            plan.skipped.append(
                Skipped(
                    finding.id,
                    finding.title,
                    f"drops index {spec.name}: pass --allow-drop once you have checked that "
                    "nothing outside the recorded run (reports, cron jobs, admin) needs it",
                )
            )
        else:
            seen.add(spec.name)
            _plan_index(plan, finding, spec, concurrently, app_override)
    return plan


def _plan_index(
    plan: FixPlan, finding: Finding, spec: IndexSpec, concurrently: bool, app: str | None
) -> None:
    adding = finding.fix.add_index is not None
    # An earlier `pareto fix --write` may have written it, not migrated yet: not twice.
    if adding:
        done = spec.name in _migrated_indexes(plan, spec.app_label, spec.model)
        done = done or bool(_created_by_sql(plan, spec.name))
    else:
        done = bool(_dropped_by(plan, spec.name))
    if done:
        verb = "creates" if adding else "drops"
        plan.skipped.append(
            Skipped(finding.id, finding.title, f"a migration {verb} {spec.name} already")
        )
        return
    try:
        model = apps.get_model(spec.app_label, spec.model)
    except LookupError:
        plan.skipped.append(
            Skipped(finding.id, finding.title, f"no model {spec.app_label}.{spec.model}")
        )
        return
    if is_writable(spec.app_label):
        planned = plan.migration_for(spec.app_label)
        declared = spec.name in _migrated_indexes(plan, spec.app_label, spec.model)
        if adding:
            planned.operations.append(indexes.add_operation(spec, concurrently))
            plan.hints.append(_meta_hint(finding, spec, model, adding=True))
        elif declared:
            planned.operations.append(indexes.remove_operation(spec, concurrently))
            plan.hints.append(_meta_hint(finding, spec, model, adding=False))
        else:
            # RemoveIndex needs the index in the migration state; one made by
            # db_index=True or by hand is not there, so it is dropped by SQL.
            planned.operations.append(_run_sql(spec, model, concurrently, adding=False))
            plan.notes.append(
                f"{spec.name} is not in the migrations of {spec.app_label}.{spec.model}: it "
                "is dropped with RunSQL; if it comes from db_index=True, set db_index=False "
                "and run makemigrations instead"
            )
    elif app is None:
        owner = apps.get_app_config(spec.app_label).name
        plan.skipped.append(
            Skipped(
                finding.id,
                finding.title,
                f"{spec.app_label}.{spec.model} belongs to {owner}, which is not part of"
                " this project: pass --app APP to put the index into a "
                "migration of one of your apps",
            )
        )
        return
    else:
        planned = plan.migration_for(app)
        planned.operations.append(_run_sql(spec, model, concurrently, adding))
        planned.depends_on_apps.add(spec.app_label)
        plan.notes.append(
            f"{spec.name} is on {spec.app_label}.{spec.model}, a model of an app that is not "
            f"yours: it goes into a RunSQL migration of app {app!r} (Django cannot AddIndex "
            "to another app's model); the migration state does not know about it"
        )
    planned.findings.append(finding.id)
    planned.index_names.append(spec.name)
    if concurrently:
        # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction.
        planned.atomic = False


def _plan_mirror(plan: FixPlan, finding: Finding, mirror: AddMirror, concurrently: bool) -> None:
    """AddField + BackfillMirror (+ a GinIndex) in the model's own app, and the hints."""
    label = f"{mirror.model}.{mirror.name}"
    try:
        model = apps.get_model(mirror.app_label, mirror.model)
    except LookupError:
        plan.skipped.append(
            Skipped(finding.id, finding.title, f"no model {mirror.app_label}.{mirror.model}")
        )
        return
    if mirror.name in _migrated_fields(plan, mirror.app_label, mirror.model):
        plan.skipped.append(Skipped(finding.id, finding.title, f"a migration adds {label} already"))
        return
    if not is_writable(mirror.app_label):
        owner = apps.get_app_config(mirror.app_label).name
        plan.skipped.append(
            Skipped(
                finding.id,
                finding.title,
                f"{mirror.app_label}.{mirror.model} belongs to {owner}, which is not part of "
                "this project: only a migration of its own app can add a field to it",
            )
        )
        return
    if mirror.gin_index and plan.vendor not in CONTRIB_POSTGRES_VENDORS:
        plan.notes.append(
            f"{label}: the GinIndex {mirror.gin_index} is left out: it is PostgreSQL's "
            f"(the plan is for {plan.vendor})"
        )
        mirror = replace(mirror, gin_index=None)
    planned = plan.migration_for(mirror.app_label)
    planned.operations += mirrors.operations(mirror, concurrently)
    planned.findings.append(finding.id)
    planned.field_names.append(f"{mirror.model.lower()}_{mirror.name}")
    if mirror.gin_index and concurrently:
        planned.atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction
        plan.notes.append(
            f"{label}: the migration is not atomic (its GinIndex is built concurrently): "
            "if the backfill fails, fix the cause and run it again by hand "
            "(`pareto denorm backfill`) rather than migrating again"
        )
    location = finding.fix.location or _location(model)
    plan.hints.append(
        CodeHint(
            finding.id,
            finding.title,
            f"Add to {mirror.model} after its {mirror.relation} field (so makemigrations sees "
            "no drift)",
            location,
            mirrors.models_code(mirror),
        )
    )
    install = f'INSTALLED_APPS += ["{mirrors.RUNTIME}"]'
    if not apps.is_installed(mirrors.RUNTIME) and all(h.code != install for h in plan.hints):
        plan.hints.append(
            CodeHint(
                finding.id,
                finding.title,
                f'Add "{mirrors.RUNTIME}" to INSTALLED_APPS: its signal handlers keep the '
                "copies in sync with their relations",
                None,
                install,
            )
        )
    plan.hints.append(
        CodeHint(
            finding.id,
            finding.title,
            mirrors.reads_summary(mirror),
            mirror.reads[0] if mirror.reads else None,
            mirrors.reads_code(mirror),
        )
    )


def _model_state(plan: FixPlan, app_label: str, model: str) -> ModelState | None:
    """The model as its app's migrations declare it (read once per plan)."""
    if plan._state is None:
        plan._state = _loader(plan).project_state()
    return plan._state.models.get((app_label, model.lower()))


def _migrated_fields(plan: FixPlan, app_label: str, model: str) -> set[str]:
    found = _model_state(plan, app_label, model)
    return set(found.fields) if found else set()


def _loader(plan: FixPlan) -> MigrationLoader:
    # Reads the migration files only (no database), once per plan.
    if plan._loader is None:
        plan._loader = MigrationLoader(None, ignore_no_migrations=True)
    return plan._loader


def _migrated_indexes(plan: FixPlan, app_label: str, model: str) -> set[str]:
    """Index names of the model as its migrations declare them."""
    found = _model_state(plan, app_label, model)
    return {index.name for index in found.options.get("indexes", [])} if found else set()


def _dropped_by(plan: FixPlan, name: str) -> str | None:
    """The migration that drops index ``name`` already (RemoveIndex or our RunSQL)."""
    for key, migration in _loader(plan).disk_migrations.items():
        for operation in migration.operations:
            removes = isinstance(operation, RemoveIndex) and operation.name == name
            if removes or (isinstance(operation, RunSQL) and _sql_is(operation.sql, "DROP", name)):
                return ".".join(key)
    return None


def _created_by_sql(plan: FixPlan, name: str) -> str | None:
    for key, migration in _loader(plan).disk_migrations.items():
        for operation in migration.operations:
            if isinstance(operation, RunSQL) and _sql_is(operation.sql, "CREATE", name):
                return ".".join(key)
    return None


def _sql_is(sql: object, verb: str, name: str) -> bool:
    text = str(sql).upper()
    return text.startswith(verb) and f'"{name.upper()}"' in text


def _run_sql(
    spec: IndexSpec, model: type[models.Model], concurrently: bool, adding: bool
) -> Operation:
    from django.db import migrations

    create = indexes.create_sql(spec, model, concurrently)
    drop = indexes.drop_sql(spec, concurrently)
    return migrations.RunSQL(
        sql=create if adding else drop,
        reverse_sql=drop if adding else create,
        # The schema Django knows about is unchanged: this index lives only in the database.
        state_operations=[],
    )


def _code_hint(finding: Finding) -> CodeHint:
    return CodeHint(
        finding.id, finding.title, finding.fix.summary, finding.fix.location, finding.fix.code
    )


def _meta_hint(
    finding: Finding, spec: IndexSpec, model: type[models.Model], adding: bool
) -> CodeHint:
    code = indexes.meta_index_code(spec)
    if adding:
        imports = "\n".join(indexes.meta_imports(spec))
        summary = f"Add to {model.__name__}.Meta.indexes (so makemigrations sees no drift)"
        code = f"{imports}\n\n{code}" if imports else code
    else:
        summary = f"Remove {spec.name} from {model.__name__}.Meta.indexes"
    return CodeHint(finding.id, finding.title, summary, _location(model), code)


def _location(model: type[models.Model]) -> str | None:
    try:
        path = inspect.getsourcefile(model)
        line = inspect.getsourcelines(model)[1]
    except (OSError, TypeError):
        return None
    if path is None:
        return None
    # Relative to the project when it is inside it, as the user would type it.
    resolved, here = Path(path).resolve(), Path.cwd().resolve()
    shown = str(resolved.relative_to(here)) if resolved.is_relative_to(here) else path
    return f"{shown}:{line}"


def _third_party_roots() -> list[Path]:
    roots = {Path(django.__file__).parent, Path(sysconfig.get_paths()["purelib"])}
    roots.update(Path(p) for p in site.getsitepackages())
    return [r.resolve() for r in roots]


def is_writable(app_label: str) -> bool:
    """Is the app part of the project (not Django's, not installed from a package),
    with migrations of its own?"""
    try:
        config = apps.get_app_config(app_label)
    except LookupError:
        return False
    if MigrationLoader.migrations_module(app_label)[0] is None:
        return False
    path = Path(config.path).resolve()
    return not any(path.is_relative_to(root) for root in _third_party_roots())
