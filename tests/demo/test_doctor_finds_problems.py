"""The doctor on the demo: the planted problems of demo/PROBLEMS.md are found with the
right fix, and the decoys are not flagged (SQLite; the analyzers' own tests cover
PostgreSQL on apps of their own)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings

from blog.seed import wipe
from django_pareto import api
from django_pareto.doctor import Diagnosis

pytestmark = [pytest.mark.django_db, pytest.mark.urls("demosite.urls")]

WORKLOAD = Path(__file__).resolve().parents[2] / "demo" / "workload.toml"


@pytest.fixture(scope="module")
def diagnosis(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Diagnosis]:
    # Large enough for indexes to matter (2,000 articles, 5,000 comments), small enough
    # to seed and replay in about half a minute.
    with django_db_blocker.unblock():
        call_command("seed", scale=0.25, seed=3, force=True, stdout=io.StringIO())
        store = tmp_path_factory.mktemp("store") / "store.sqlite3"
        try:
            # A module fixture runs outside the tests' urls marker: name the URLconf here.
            with override_settings(
                ROOT_URLCONF="demosite.urls", PARETO={"STORE": str(store), "RUN": "before"}
            ):
                result = api.record(WORKLOAD, requests=250, run="before")
                assert not result.unexpected, result.examples
                yield api.doctor("before")
        finally:
            wipe()


def found(diagnosis: Diagnosis, finding_id: str) -> dict[str, Any]:
    return {f.obj or "": f for f in diagnosis.findings if f.id == finding_id}


@pytest.mark.parametrize(
    ("problem", "obj", "code"),
    [
        ("P1", "blog.Article.author", '.select_related("author")'),
        ("P2", "auth.User.profile", '.select_related("author__profile")'),
        ("P4", "blog.Article.tags", '.prefetch_related("tags")'),
    ],
)
def test_n_plus_ones_are_found_with_their_fix(
    diagnosis: Diagnosis, problem: str, obj: str, code: str
) -> None:
    fixes = {
        (f.fix.code, (f.fix.location or "").split(":")[0])
        for f in diagnosis.findings
        if f.id == "pareto.N001" and f.obj == obj
    }
    # The queryset to change is in the view (or the API view), not in the template.
    assert (code, "demo/blog/views.py") in fixes, (problem, fixes)


def test_per_row_counts_and_the_bypassed_prefetch(diagnosis: Diagnosis) -> None:
    codes = [f.fix.code or "" for f in diagnosis.findings if f.id == "pareto.N001"]
    assert any('Count("comments"' in c for c in codes)  # P3
    assert any("Exists(" in c for c in codes)  # P5
    assert any('Prefetch("comments"' in c for c in codes)  # P6


def test_repeated_queries(diagnosis: Diagnosis) -> None:
    assert {"blog.Profile", "blog.Tag"} <= set(found(diagnosis, "pareto.N002"))  # P7, P8


def test_missing_indexes_are_found(diagnosis: Diagnosis) -> None:
    specs = {
        (f.fix.add_index.table, f.fix.add_index.fields)
        for f in diagnosis.findings
        if f.id == "pareto.I001" and f.fix.add_index is not None
    }
    assert ("blog_article", ("-published_at",)) in specs, specs  # P9
    assert ("blog_article", ("author", "-created_at")) in specs, specs  # P10
    # P11 (comments by article, by date) only pays once articles have many comments: at
    # this scale each has ~2, which the foreign-key index and a tiny sort serve.


def test_decoys_are_not_flagged(diagnosis: Diagnosis) -> None:
    flagged = {
        (f.fix.add_index.table, f.fix.add_index.columns)
        for f in diagnosis.findings
        if f.id == "pareto.I001" and f.fix.add_index is not None
    }
    assert not any(t == "blog_category" for t, _ in flagged)  # D1
    assert ("blog_article", ("is_published",)) not in flagged  # D2
    assert ("blog_article", ("slug",)) not in flagged  # D3
    assert ("blog_comment", ("article_id",)) not in flagged  # D4
    notes = " ".join(diagnosis.notes["indexes"])
    assert "blog_category (code)" in notes and "blog_article (slug): served by" in notes


def test_unused_indexes_on_the_log_table(diagnosis: Diagnosis) -> None:
    removed = {
        f.fix.remove_index.columns
        for f in diagnosis.findings
        if f.id == "pareto.X002" and f.fix.remove_index is not None
    }
    assert {("path",), ("referrer",), ("ip", "created_at")} <= removed  # P19, P22, P21
    assert ("article_id",) not in removed and ("user_id",) not in removed  # P17, P18: FK rule


def test_the_popular_tags_aggregate_gets_a_queryset_cache(diagnosis: Diagnosis) -> None:
    # P16: one line evaluates the aggregate for every page's sidebar, /tags/ and the API.
    lines = (WORKLOAD.parent / "blog" / "queries.py").read_text().splitlines()
    (line,) = [i for i, text in enumerate(lines, 1) if text.strip().startswith("return list(")]
    (p16,) = [f for f in diagnosis.findings if f.id == "pareto.C001" and f.obj == "blog.Tag"]
    assert p16.fix.location == f"demo/blog/queries.py:{line}"
    assert "GET /" in p16.endpoints and "GET /tags/" in p16.endpoints
    assert set(p16.evidence["tables"]) == {"blog_tag", "blog_article_tags"}
    assert p16.evidence["hit_rate"] >= 0.5
    # The paginator's COUNT (D2's query, "incidental"): judged and declined, because the
    # article page writes blog_article (its view counter) on every visit.
    notes = diagnosis.notes["caching"]
    assert any(n.startswith("blog_article: written ") for n in notes), notes
    assert any(n.startswith("GET /article/<slug:slug>/: no page cache: ") for n in notes)
