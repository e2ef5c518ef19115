"""pareto.D001 fixed: a mirror field added and backfilled by a migration, and the hints.

The text of the migration is compared with golden files and does not need the runtime
(``django_pareto.denorm``): stand-ins write its names. Applying the migration does; that
test skips while the runtime is missing (see the importorskip below).
Regenerate the golden files with PARETO_REGENERATE_GOLDEN=1 (and review the diff).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings

from django_pareto.analyze.denormalize_fix import existing_mirror
from django_pareto.analyze.denormalize_sql import relation_of
from django_pareto.analyze.schema import SchemaMap
from django_pareto.fix import FixPlan, plan_fixes, render_migrations, write_migrations
from django_pareto.fix.mirrors import tidy_imports
from tests.fix.conftest import MIRROR_APP, mirrorapp_fixed
from tests.fix.helpers import TAG_INFO, diagnosis, mirror
from tests.fix.test_migrations import assert_golden, drift

GIN = "pareto_mirr_tag_inf_9f1c2e_idx"
TAG_INFO_GIN = replace(TAG_INFO, gin_index=GIN)
SPEC = {"sqlite": TAG_INFO, "postgresql": TAG_INFO_GIN}


def kinds(plan: FixPlan) -> list[str]:
    return [type(op).__name__ for m in plan.migrations for op in m.operations]


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql"])
def test_golden(mirrorapp: Path, vendor: str) -> None:
    plan = plan_fixes(diagnosis(mirror(SPEC[vendor])), vendor)
    (rendered,) = render_migrations(plan, include_header=False)
    assert rendered.path == mirrorapp / "migrations" / "0002_pareto_article_tag_info.py"
    assert_golden(f"mirror_{vendor}.py", rendered.text)


def test_the_plan_adds_backfills_and_hints(mirrorapp: Path) -> None:
    plan = plan_fixes(diagnosis(mirror()), "sqlite")
    assert kinds(plan) == ["AddField", "BackfillMirror"]
    (migration,) = plan.migrations
    assert (migration.app_label, migration.atomic, migration.findings) == (
        MIRROR_APP,
        True,
        ["pareto.D001"],
    )
    models_hint, reads_hint = plan.hints
    assert models_hint.location == "pareto_mirrorapp/models.py:12"
    assert models_hint.code == (
        "from django_pareto.denorm import MirrorField\n\n"
        'tag_info = MirrorField("tags", fields=["name", "slug"])'
    )
    assert reads_hint.location == "blog/views.py:12"
    assert (
        reads_hint.code
        == 'article.tag_info  # [{"id": ..., "name": ..., "slug": ...}, ...] sorted by id'
    )
    assert "drop the prefetch of tags there" in reads_hint.summary
    assert plan.skipped == [] and plan.notes == []


def test_postgresql_adds_the_gin_index_concurrently(mirrorapp: Path) -> None:
    plan = plan_fixes(diagnosis(mirror(TAG_INFO_GIN)), "postgresql")
    assert kinds(plan) == ["AddField", "BackfillMirror", "AddIndexConcurrently"]
    assert plan.migrations[0].atomic is False
    assert "not atomic" in plan.notes[0] and "pareto denorm backfill" in plan.notes[0]
    assert (
        'GinIndex(fields=["tag_info"], name="pareto_mirr_tag_inf_9f1c2e_idx",'
        ' opclasses=["jsonb_path_ops"]),'
    ) in (plan.hints[0].code or "")


def test_a_gin_index_is_left_out_off_postgresql(mirrorapp: Path) -> None:
    plan = plan_fixes(diagnosis(mirror(TAG_INFO_GIN)), "sqlite")
    assert kinds(plan) == ["AddField", "BackfillMirror"]
    assert plan.notes == [
        f"Article.tag_info: the GinIndex {GIN} is left out: it is PostgreSQL's (the plan is "
        "for sqlite)"
    ]


def test_an_array_copy(mirrorapp: Path) -> None:
    spec = replace(TAG_INFO_GIN, name="tag_ids", fields=(), array=True)
    (rendered,) = render_migrations(plan_fixes(diagnosis(mirror(spec)), "postgresql"))
    assert "from django_pareto.denorm import MirrorArrayField\n" in rendered.text
    # An array's GIN index keeps array_ops: jsonb_path_ops is for JSON copies only.
    assert "GinIndex(fields=['tag_ids']" in rendered.text and "opclasses" not in rendered.text
    assert "field=MirrorArrayField('tags')," in rendered.text
    assert "django_pareto.denorm." not in rendered.text.replace(
        "from django_pareto.denorm.operations import", ""
    )


def test_another_apps_model_is_skipped(mirrorapp: Path) -> None:
    spec = replace(TAG_INFO, app_label="auth", model="User", relation="groups", name="group_ids")
    plan = plan_fixes(diagnosis(mirror(spec)), "sqlite")
    assert plan.migrations == [] and plan.hints == []
    (skipped,) = plan.skipped
    assert skipped.reason == (
        "auth.User belongs to django.contrib.auth, which is not part of this project: only a "
        "migration of its own app can add a field to it"
    )


def test_the_runtime_app_missing_is_a_hint(mirrorapp: Path) -> None:
    installed = [a for a in settings.INSTALLED_APPS if a != "django_pareto.denorm"]
    with override_settings(INSTALLED_APPS=installed):
        plan = plan_fixes(diagnosis(mirror(), mirror(replace(TAG_INFO, name="x"))), "sqlite")
    codes = [h.code for h in plan.hints]
    assert codes.count('INSTALLED_APPS += ["django_pareto.denorm"]') == 1


def test_the_same_copy_twice_is_planned_once(mirrorapp: Path) -> None:
    plan = plan_fixes(diagnosis(mirror(), mirror()), "sqlite")
    assert kinds(plan) == ["AddField", "BackfillMirror"]


def test_imports_are_tidied_in_django_s_order() -> None:
    text = (
        "import django_pareto.denorm\n"
        "import django_pareto.denorm.operations\n"
        "from django.db import migrations\n"
        "\n"
        "x = django_pareto.denorm.MirrorField('tags')\n"
        "y = django_pareto.denorm.operations.BackfillMirror(model_name='a', name='b')\n"
    )
    assert tidy_imports(text) == (
        "from django.db import migrations\n"
        "from django_pareto.denorm import MirrorField\n"
        "from django_pareto.denorm.operations import BackfillMirror\n"
        "\n"
        "x = MirrorField('tags')\n"
        "y = BackfillMirror(model_name='a', name='b')\n"
    )
    assert tidy_imports("from django.db import migrations\n") == (
        "from django.db import migrations\n"
    )


# -- applied: needs the runtime ------------------------------------------------------------


@pytest.fixture
def fixed(tmp_path: Path, alias: str) -> Iterator[Path]:
    # The runtime is written alongside this analyzer; once it has landed, drop this skip
    # (the models of the fixed app import MirrorField).
    pytest.importorskip("django_pareto.denorm")
    vendor = connections[alias].vendor
    yield from mirrorapp_fixed(tmp_path, vendor)


@pytest.fixture(params=["default", "postgres"], ids=["sqlite", "postgresql"])
def alias(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        request.getfixturevalue("postgres_alias")
    return str(request.param)


@pytest.mark.django_db(databases=["default", "postgres"], transaction=True)
def test_the_migration_applies_backfills_and_leaves_no_drift(fixed: Path, alias: str) -> None:
    vendor = connections[alias].vendor
    call_command("migrate", MIRROR_APP, "0001", database=alias, verbosity=0)
    try:
        # Rows that exist before the copy does, made with the models of migration 0001.
        executor = MigrationExecutor(connections[alias])
        state = executor.loader.project_state((MIRROR_APP, "0001_initial"))
        tag = state.apps.get_model(MIRROR_APP, "Tag")
        article = state.apps.get_model(MIRROR_APP, "Article")
        tags = tag.objects.using(alias).bulk_create(
            tag(name=f"Tag {i}", slug=f"tag-{i}") for i in range(4)
        )
        first, _ = article.objects.using(alias).bulk_create(
            article(title=t) for t in ("first", "second")
        )
        first.tags.add(tags[2], tags[0])
        assert drift(MIRROR_APP)  # models.py has the hints applied; the migrations do not
        (path,) = write_migrations(plan_fixes(diagnosis(mirror(SPEC[vendor])), vendor))
        assert path == fixed / "migrations" / "0002_pareto_article_tag_info.py"
        assert not drift(MIRROR_APP)
        call_command("migrate", MIRROR_APP, database=alias, verbosity=0)
        model = apps.get_model(MIRROR_APP, "Article")
        copies = dict(model.objects.using(alias).values_list("title", "tag_info"))
        assert copies == {
            "first": [
                {"id": tags[0].pk, "name": "Tag 0", "slug": "tag-0"},
                {"id": tags[2].pk, "name": "Tag 2", "slug": "tag-2"},
            ],
            "second": [],
        }
        if vendor == "postgresql":
            with connections[alias].cursor() as cursor:
                found = connections[alias].introspection.get_constraints(
                    cursor, f"{MIRROR_APP}_article"
                )
            assert found[GIN]["type"] == "gin"
        # The analyzer sees the copy now, and says so instead of advising it again.
        relation = relation_of(SchemaMap(), f"{MIRROR_APP}_article_tags")
        assert relation is not None and existing_mirror(relation) == "tag_info"
        # Applying it again is refused up front: nothing is planned twice.
        again = plan_fixes(diagnosis(mirror(SPEC[vendor])), vendor)
        assert [s.reason for s in again.skipped] == ["a migration adds Article.tag_info already"]
        call_command("migrate", MIRROR_APP, "0001", database=alias, verbosity=0)
    finally:
        call_command("migrate", MIRROR_APP, "zero", database=alias, verbosity=0)
