"""I001 partial indexes on real SQLite and PostgreSQL: rare conditions get one, common
conditions, conditions an existing index serves, and tiny tables do not."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connections

from django_pareto.analyze.findings import Finding
from django_pareto.analyze.indexes import Asked, MissingIndexAnalyzer
from django_pareto.analyze.partial_indexes import MAX_PARTIAL_FRACTION
from django_pareto.analyze.schema import SchemaMap
from django_pareto.analyze.sqlparse import IS_NULL, IS_TRUE, NOT_NULL, Predicate, parse
from django_pareto.backends import backend_for
from tests.index_app import scenario as recording
from tests.partial_app import scenario
from tests.partial_app.models import Desk, Job, Story

STORY, JOB = "partial_app_story", "partial_app_job"
FEATURED = f"{STORY} (published_at DESC) WHERE is_featured"
QUEUE = f"{STORY} (desk) WHERE reviewed_at IS NULL"
FAILED = f"{JOB} (id) WHERE failed_at IS NOT NULL"


def cases(using: str) -> list[recording.Case]:
    stories, jobs = Story.objects.using(using), Job.objects.using(using)
    return [
        # a rare flag, asked for its rare value, the newest first
        (
            "GET /featured/",
            lambda: list(stories.filter(is_featured=True).order_by("-published_at")[:10]),
            6.0,
        ),
        # a rare NULL with another equality column
        (
            "GET /queue/",
            lambda: list(stories.filter(desk="desk-4", reviewed_at__isnull=True)),
            5.0,
        ),
        # a rare NOT NULL as the only filter: keyed on the primary key
        ("GET /failed/", lambda: list(jobs.filter(failed_at__isnull=False)), 4.0),
        # decoys: the common value of a rare flag, a common NOT NULL
        (
            "GET /stories/",
            lambda: list(stories.filter(is_deleted=False).order_by("-published_at")[:10]),
            3.0,
        ),
        (
            "GET /reviewed/",
            lambda: list(stories.filter(reviewed_at__isnull=False).order_by("-published_at")[:10]),
            3.0,
        ),
        # served by a full index on the condition's column (db_index=True)
        ("GET /paused/", lambda: list(jobs.filter(paused_at__isnull=False)), 2.0),
        # served by partial_job_live_idx already
        (
            "GET /live/",
            lambda: list(jobs.filter(archived_at__isnull=True).order_by("-created_at")[:10]),
            3.0,
        ),
        # 8 rows
        (
            "GET /desks/",
            lambda: list(Desk.objects.using(using).filter(closed_at__isnull=True)),
            1.0,
        ),
    ]


def diagnose(tmp_path: Path, using: str) -> tuple[dict[str, Finding], list[str]]:
    scenario.fill(using)
    context = recording.record(tmp_path, using, cases(using))
    result = MissingIndexAnalyzer().analyze(context)
    return {f.obj or "": f for f in result.findings}, result.notes


def partial(found: dict[str, Finding]) -> dict[str, Finding]:
    return {k: f for k, f in found.items() if f.fix.add_index and f.fix.add_index.condition}


def check_common(found: dict[str, Finding], notes: list[str]) -> None:
    # the review queue: keyed on the other equality column, under the rare NULL
    queue = found[QUEUE]
    spec = queue.fix.add_index
    assert spec is not None
    assert (spec.app_label, spec.model, spec.fields, spec.columns) == (
        "partial_app",
        "Story",
        ("desk",),
        ("desk",),
    )
    assert spec.condition == "Q(reviewed_at__isnull=True)"
    assert spec.sql.endswith('("desk") WHERE "reviewed_at" IS NULL')
    assert len(spec.name) <= 30
    assert queue.endpoints == ("GET /queue/",)
    assert queue.evidence["condition"] == {
        "where": "reviewed_at IS NULL",
        "q": "Q(reviewed_at__isnull=True)",
        "matches_fraction": 0.02,
    }
    assert queue.evidence["thresholds"]["max_partial_fraction"] == MAX_PARTIAL_FRACTION
    assert queue.evidence["improvement"] >= 2
    assert queue.fix.code == (
        f"models.Index(fields=['desk'], condition=Q(reviewed_at__isnull=True), name={spec.name!r})"
    )
    assert queue.title.startswith("Missing partial index on ")
    # ... and not counted again for the full index (desk, reviewed_at)
    assert [k for k in found if k.startswith(f"{STORY} (desk")] == [QUEUE]

    # the failed jobs: nothing but the condition, so the primary key under it
    failed = found[FAILED].fix.add_index
    assert failed is not None
    assert (failed.fields, failed.condition) == (("id",), "Q(failed_at__isnull=False)")
    assert found[FAILED].evidence["condition"]["matches_fraction"] == 0.005

    # the common values: no partial index
    conditions = {f.fix.add_index.condition for f in partial(found).values() if f.fix.add_index}
    assert not any("is_deleted" in c or "reviewed_at__isnull=False" in c for c in conditions if c)
    assert (
        f"{STORY} WHERE reviewed_at IS NOT NULL: no partial index: it matches 98% of rows (more than 10%)"
        in notes
    )
    # their full index on the sort stands (the featured query may add to it on SQLite)
    assert "GET /stories/" in found[f"{STORY} (published_at DESC)"].endpoints

    # served by the existing partial index: neither a partial nor a full index is advised
    assert not any(k.startswith(JOB) and "created_at" in k for k in found), found.keys()
    assert (
        f"{JOB} (created_at DESC) WHERE archived_at IS NULL: served by partial_job_live_idx"
        in notes
    )
    assert not any("paused_at" in k for k in found), found.keys()
    assert any(
        n.startswith(f"{JOB} (id) WHERE paused_at IS NOT NULL: served by partial_app_job_paused_at")
        for n in notes
    ), notes

    # the tiny table
    assert not any(k.startswith("partial_app_desk") for k in found)
    assert (
        "partial_app_desk WHERE closed_at IS NULL: no partial index: the table has 8 rows" in notes
    )


@pytest.mark.django_db(transaction=True)
def test_partial_indexes_on_sqlite(tmp_path: Path) -> None:
    found, notes = diagnose(tmp_path, "default")
    check_common(found, notes)
    assert set(partial(found)) - {FEATURED} == {QUEUE, FAILED}
    assert found[QUEUE].evidence["verified_with"] == "scratch copy"
    if FEATURED in found:
        # Django 5.2 writes is_featured=True out as a bare condition on SQLite too.
        assert found[FEATURED].evidence["verified_with"] == "scratch copy"
    else:
        # Django 6.1 sends it as "is_featured" = %s, and the value is not stored, so
        # whether the rare value is asked is unknown.
        assert (
            f"{STORY} (is_featured): no partial index: True matches 1% of rows, but the "
            "value queried is a parameter (%s), not in the recorded SQL"
        ) in notes
        assert "GET /featured/" in found[f"{STORY} (published_at DESC)"].endpoints


@pytest.mark.django_db(databases=["default", "postgres"], transaction=True)
def test_partial_indexes_on_postgresql(tmp_path: Path, postgres_alias: str) -> None:
    found, notes = diagnose(tmp_path, postgres_alias)
    check_common(found, notes)
    assert set(partial(found)) == {FEATURED, QUEUE, FAILED}
    featured = found[FEATURED]
    spec = featured.fix.add_index
    assert spec is not None
    assert (spec.fields, spec.condition) == (("-published_at",), "Q(is_featured=True)")
    assert spec.sql.endswith('("published_at" DESC) WHERE "is_featured"')
    assert featured.evidence["verified_with"] == "HypoPG"
    assert featured.evidence["condition"]["matches_fraction"] == 0.01
    assert featured.endpoints == ("GET /featured/",)
    # a low-selectivity flag: no full index on it, whichever value is asked
    assert "partial_app_story (is_featured): not indexed alone" in " ".join(notes)
    # the common value of the other flag: PostgreSQL writes it out, and it matches 99%
    assert (
        f"{STORY} WHERE NOT is_deleted: no partial index: it matches 99% of rows (more than 10%)"
        in notes
    )
    # the featured query is served by its partial index, not counted for the full one
    assert "GET /featured/" not in found[f"{STORY} (published_at DESC)"].endpoints


@pytest.fixture(params=["default", "postgres"])
def alias(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        request.getfixturevalue("postgres_alias")
    return str(request.param)


@pytest.mark.django_db(databases=["default", "postgres"], transaction=True)
def test_predicate_fractions(alias: str) -> None:
    scenario.fill(alias)
    backend = backend_for(alias)
    fraction = backend.predicate_fraction
    assert fraction(STORY, Predicate("reviewed_at", IS_NULL)) == pytest.approx(0.02, abs=0.002)
    assert fraction(STORY, Predicate("reviewed_at", NOT_NULL)) == pytest.approx(0.98, abs=0.002)
    assert fraction(JOB, Predicate("failed_at", NOT_NULL)) == pytest.approx(0.005, abs=0.001)
    assert fraction(STORY, Predicate("is_featured", IS_TRUE)) == pytest.approx(0.01, abs=0.002)
    # a value no row has
    Story.objects.using(alias).update(is_featured=False)
    if connections[alias].vendor == "postgresql":
        backend.query(f'ANALYZE "{STORY}"')
    assert fraction(STORY, Predicate("is_featured", IS_TRUE)) == pytest.approx(0.0, abs=0.001)


@pytest.mark.django_db(databases=["default", "postgres"], transaction=True)
def test_existing_partial_index_reads_its_condition(alias: str) -> None:
    backend = backend_for(alias)
    (live,) = [i for i in backend.indexes(JOB) if i.name == "partial_job_live_idx"]
    assert live.partial and live.predicates == frozenset({Predicate("archived_at", IS_NULL)})
    assert not live.serves(("created_at",))  # only for queries that imply its WHERE
    assert live.serves(("created_at",), where_implied=True)


@pytest.mark.django_db(transaction=True)
def test_is_null_on_a_not_null_column_is_no_condition() -> None:
    # filter(published_at__isnull=True) on a NOT NULL column matches no row: no index for it,
    # while the same test on the nullable column is a candidate.
    scenario.fill("default")
    backend, notes = backend_for("default"), set[str]()
    for column, wanted in [
        ("published_at", None),
        ("reviewed_at", QUEUE.replace("(desk)", "(id)")),
    ]:
        sql = f'SELECT "{STORY}"."id" FROM "{STORY}" WHERE "{STORY}"."{column}" IS NULL'
        parsed = parse(sql)
        best, served = MissingIndexAnalyzer().partial(
            SchemaMap(), parsed, parsed.tables[STORY], backend, notes, Asked()
        )
        assert not served
        assert (best.label if best else None) == wanted
