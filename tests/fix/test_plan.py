"""plan_fixes: which finding becomes which operation, hint or skip."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations

from django_pareto.fix import FixError, plan_fixes
from tests.fix.helpers import (
    AUTH_USERNAME,
    CODE,
    EVERYTHING,
    FEATURED,
    NPLUSONE,
    UPPER_TITLE,
    add,
    diagnosis,
    drop,
)


def kinds(plan: object) -> list[tuple[str, str]]:
    return [
        (m.app_label, type(op).__name__)
        for m in plan.migrations  # type: ignore[attr-defined]
        for op in m.operations
    ]


def test_nothing_is_dropped_without_allow_drop(fixapp: Path) -> None:
    plan = plan_fixes(diagnosis(add(FEATURED), drop(CODE)), "sqlite")
    assert kinds(plan) == [("pareto_fixapp", "AddIndex")]
    (skipped,) = plan.skipped
    assert skipped.finding == "pareto.X001"
    assert "drops index fixapp_code_idx: pass --allow-drop" in skipped.reason


def test_allow_drop_removes_an_index_of_the_migrations(fixapp: Path) -> None:
    plan = plan_fixes(diagnosis(drop(CODE)), "sqlite", allow_drop=True)
    assert kinds(plan) == [("pareto_fixapp", "RemoveIndex")]
    (hint,) = plan.hints
    assert hint.summary == "Remove fixapp_code_idx from Article.Meta.indexes"


def test_index_unknown_to_the_migrations_is_dropped_by_sql(fixapp: Path) -> None:
    # e.g. made by db_index=True or by hand: RemoveIndex would not find it in the state.
    plan = plan_fixes(diagnosis(drop(FEATURED)), "sqlite", allow_drop=True)
    assert kinds(plan) == [("pareto_fixapp", "RunSQL")]
    assert plan.migrations[0].operations[0].sql == 'DROP INDEX IF EXISTS "fixapp_featured_pub_idx"'
    assert "not in the migrations of pareto_fixapp.Article" in plan.notes[0]


def test_postgresql_builds_indexes_concurrently_outside_a_transaction(fixapp: Path) -> None:
    plan = plan_fixes(diagnosis(add(FEATURED), drop(FEATURED)), "postgresql", allow_drop=True)
    (migration,) = plan.migrations
    assert migration.atomic is False
    assert isinstance(migration.operations[0], AddIndexConcurrently)
    # The same index asked twice (here added and dropped) is planned once.
    assert len(migration.operations) == 1
    plan = plan_fixes(diagnosis(drop(CODE)), "postgresql", allow_drop=True)
    assert isinstance(plan.migrations[0].operations[0], RemoveIndexConcurrently)


def test_sqlite_migrations_stay_atomic(fixapp: Path) -> None:
    (migration,) = plan_fixes(diagnosis(add(FEATURED)), "sqlite").migrations
    assert migration.atomic is True


def test_another_apps_model_needs_app(fixapp: Path) -> None:
    plan = plan_fixes(diagnosis(add(AUTH_USERNAME)), "sqlite")
    assert plan.migrations == []
    (skipped,) = plan.skipped
    assert "belongs to django.contrib.auth" in skipped.reason
    assert "--app APP" in skipped.reason


def test_another_apps_model_goes_to_run_sql_in_the_named_app(fixapp: Path) -> None:
    plan = plan_fixes(diagnosis(add(AUTH_USERNAME)), "postgresql", app_override="pareto_fixapp")
    (migration,) = plan.migrations
    (operation,) = migration.operations
    assert isinstance(operation, migrations.RunSQL)
    assert operation.sql.startswith('CREATE INDEX CONCURRENTLY "auth_user_upper_username_idx"')
    assert (
        operation.reverse_sql == 'DROP INDEX CONCURRENTLY IF EXISTS "auth_user_upper_username_idx"'
    )
    assert operation.state_operations == []
    assert migration.depends_on_apps == {"auth"}
    assert "RunSQL migration of app 'pareto_fixapp'" in plan.notes[0]


def test_app_must_be_a_project_app_with_migrations(fixapp: Path) -> None:
    with pytest.raises(FixError, match="--app auth"):
        plan_fixes(diagnosis(add(AUTH_USERNAME)), "sqlite", app_override="auth")


def test_nplusone_becomes_a_code_hint() -> None:
    plan = plan_fixes(diagnosis(NPLUSONE), "sqlite")
    (hint,) = plan.hints
    assert (hint.finding, hint.location, hint.code) == (
        "pareto.N001",
        "blog/views.py:42",
        'Article.objects.select_related("author")',
    )
    assert plan.migrations == []


def test_meta_hints_are_the_lines_of_models_py(fixapp: Path) -> None:
    plan = plan_fixes(diagnosis(add(FEATURED), add(UPPER_TITLE)), "sqlite")
    source = (fixapp / "models.py").read_text()
    for hint in plan.hints:
        assert hint.location is not None and hint.location.endswith("models.py:7")
        assert hint.code is not None
        *imports, line = hint.code.splitlines()
        assert line.strip() in source
        assert all(i in source for i in imports if i)


def test_unknown_model_is_skipped(fixapp: Path) -> None:
    from dataclasses import replace

    plan = plan_fixes(diagnosis(add(replace(FEATURED, model="Gone"))), "sqlite")
    assert plan.skipped[0].reason == "no model pareto_fixapp.Gone"


def test_findings_order_is_kept(fixapp: Path) -> None:
    plan = plan_fixes(EVERYTHING, "sqlite", allow_drop=True, app_override="pareto_fixapp")
    assert [h.finding for h in plan.hints] == [
        "pareto.N001",
        "pareto.I001",
        "pareto.I001",
        "pareto.X001",
    ]
    assert plan.migrations[0].index_names == [
        "fixapp_featured_pub_idx",
        "fixapp_upper_title_idx",
        "fixapp_code_idx",
        "auth_user_upper_username_idx",
    ]
