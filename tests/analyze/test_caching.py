"""Caching advice: pareto.C001 (queryset), C002 (page), C003 (fragment cache).

End to end: the views of tests/cache_app run through the capture middleware into a
temporary store, on SQLite and on PostgreSQL, and the analyzer must advise the page cache,
the queryset cache and the fragment cache where they pay, and nothing (with a note) where
the table is written on every request or the query is cheaper than a cache round trip.
The cases differ in shape (an aggregate over 20,000 rows against a lookup in a 3-row table),
never in timing thresholds.

The arithmetic (hit rates, savings, rates) is checked on runs written through the store
with exact durations.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.test import Client

from django_pareto.analyze.caching import CacheAnalyzer
from django_pareto.analyze.caching_model import (
    BOUNDED,
    FIXED,
    OTHER,
    PER_CALLSITE,
    READ,
    VARYING,
    VOLATILE,
    WRITE,
    classify,
    simulate,
)
from django_pareto.analyze.context import AnalysisContext
from django_pareto.analyze.findings import AnalyzerResult, Finding
from django_pareto.capture.fingerprint import normalize
from django_pareto.doctor import diagnose
from django_pareto.store import Store
from django_pareto.store.records import QueryEvent, RequestQueryRow, RequestRecord
from django_pareto.store.sqlite import SQLiteStore
from django_pareto.store.tables import tables_of
from tests.cache_app.models import Category, Product, Review, Visit

pytestmark = pytest.mark.urls("tests.cache_app.urls")

ROOT = Path(__file__).parents[2]
VIEWS = "tests/cache_app/views.py"
QUERIES = "tests/cache_app/queries.py"
BOARD = "tests/cache_app/templates/cache_app/board.html"
ROUNDS = 8
REVIEWS = VISITS = 20_000  # rows an aggregate reads: genuinely costly next to a 3-row table
TRAFFIC = ["catalog", "stats_a", "stats_b", "board", "visits", "menu"]


def line_of(path: str, marker: str) -> str:
    """``path:<line>`` of the line marked ``# <marker>``."""
    lines = (ROOT / path).read_text().splitlines()
    (number,) = [i for i, text in enumerate(lines, 1) if text.rstrip().endswith(f"# {marker}")]
    return f"{path}:{number}"


def make_catalog(alias: str) -> None:
    categories = [Category.objects.using(alias).create(name=f"c{i}") for i in range(3)]
    products = Product.objects.using(alias).bulk_create(
        [Product(category=categories[i % 3], name=f"p{i:03}") for i in range(200)]
    )
    Review.objects.using(alias).bulk_create(
        [Review(product=products[i % 200], stars=i % 5 + 1) for i in range(REVIEWS)]
    )
    Visit.objects.using(alias).bulk_create([Visit(path=f"/p{i % 50}/") for i in range(VISITS)])


def record(
    client: Client, recorded: Callable[[], Store], prefix: str = "", views: list[str] = TRAFFIC
) -> AnalyzerResult:
    """ROUNDS rounds over ``views``; before the middle round, one new category (a rare write)."""
    for i in range(ROUNDS):
        if i == ROUNDS // 2:
            assert client.post(f"/{prefix}new_category/", {"name": "new"}).status_code == 201
        for view in views:
            assert client.get(f"/{prefix}{view}/?id={i + 1}").status_code == 200
    store = recorded()
    run = store.run("test")
    assert run is not None
    return CacheAnalyzer().analyze(AnalysisContext(store, run))


def only(result: AnalyzerResult, id: str, obj: str) -> Finding:
    found = [f for f in result.findings if (f.id, f.obj) == (id, obj)]
    assert len(found) == 1, [(f.id, f.obj) for f in result.findings]
    return found[0]


def check_advice(result: AnalyzerResult, prefix: str) -> None:
    """The advice both databases agree on."""
    page = only(result, "pareto.C002", f"GET /{prefix}catalog/")
    queryset = only(result, "pareto.C001", "cache_app.Product")
    fragment = only(result, "pareto.C003", "cache_app.Review")
    # C002: the catalog is the same for everyone; the new category spoils it once.
    assert page.fix.location == line_of(VIEWS, "page cache: catalog")
    assert page.fix.code == "@cache_view(timeout=300)"
    assert (page.evidence["lookups"], page.evidence["hits"]) == (ROUNDS, ROUNDS - 2)
    assert list(page.evidence["tables"]) == ["cache_app_category"]
    assert page.evidence["tables"]["cache_app_category"]["writes"] == 1
    assert "do not vary per user" in page.message and "Vary headers" in page.message
    # C001: one aggregate, the same on two endpoints, never invalidated: one miss.
    assert queryset.fix.location == line_of(QUERIES, "queryset cache: review_ranking")
    assert queryset.fix.code == "cached(queryset, timeout=300)"
    assert "CachingManager()" in queryset.fix.summary
    assert queryset.endpoints == (f"GET /{prefix}stats_a/", f"GET /{prefix}stats_b/")
    assert (queryset.evidence["lookups"], queryset.evidence["hits"]) == (
        2 * ROUNDS,
        2 * ROUNDS - 1,
    )
    assert queryset.evidence["page_cache"] == []
    assert "LIMIT" in queryset.evidence["identity"]  # the key includes the call site
    # C003: the template evaluates a costly queryset; the page itself varies per product.
    assert fragment.fix.location == f"{BOARD}:2"
    assert fragment.fix.code == (
        '{% load pareto_cache %}{% cachefragment 300 "board-2" %}...{% endcachefragment %}'
    )
    assert (fragment.evidence["lookups"], fragment.evidence["hits"]) == (ROUNDS, ROUNDS - 1)
    assert fragment.endpoints == (f"GET /{prefix}board/",)
    # Ranked by the time saved.
    savings = [f.savings_ms for f in result.findings]
    assert savings == sorted(savings, reverse=True) and min(savings) > 0
    # The write-heavy aggregate: nothing advised, and the notes say why.
    assert not any(f"/{prefix}visits/" in e for f in result.findings for e in f.endpoints)
    assert any(
        n.startswith("cache_app_visit: written ")
        and "a cache would miss most of the time (expected hit rate 0%" in n
        for n in result.notes
    ), result.notes
    assert any(
        n.startswith(f"GET /{prefix}visits/: no page cache: {ROUNDS} of {ROUNDS} requests write")
        for n in result.notes
    )
    assert any(
        n.startswith(f"GET /{prefix}stats_a/: no page cache: its queries bind parameters")
        for n in result.notes
    )


@pytest.mark.django_db
def test_page_queryset_and_fragment_caches_on_sqlite(
    client: Client, recorded: Callable[[], Store]
) -> None:
    make_catalog("default")
    result = record(client, recorded)
    check_advice(result, "")
    found = {(f.id, f.obj) for f in result.findings}
    assert {
        ("pareto.C002", "GET /catalog/"),
        ("pareto.C001", "cache_app.Product"),
        ("pareto.C003", "cache_app.Review"),
    } <= found
    # Nothing else but, possibly, the 3-row category list: whether a query that cheap is
    # worth a round trip depends on how fast this machine runs it; the case of its own
    # below checks the note on a quiet run.
    assert found - {
        ("pareto.C002", "GET /catalog/"),
        ("pareto.C001", "cache_app.Product"),
        ("pareto.C003", "cache_app.Review"),
    } <= {("pareto.C001", "cache_app.Category")}


@pytest.mark.django_db(databases=["default", "postgres"])
def test_page_queryset_and_fragment_caches_on_postgresql(
    postgres_alias: str, client: Client, recorded: Callable[[], Store]
) -> None:
    make_catalog(postgres_alias)
    # (Whether the 3-row lookup is worth caching depends on this server's round trip:
    # not asserted here; SQLite's test covers the cheap case.)
    check_advice(record(client, recorded, "pg/"), "pg/")


@pytest.mark.django_db
def test_a_table_written_on_every_request_is_not_cached(
    client: Client, recorded: Callable[[], Store]
) -> None:
    make_catalog("default")
    result = record(client, recorded, views=["visits"])
    assert result.findings == []
    (note,) = [n for n in result.notes if n.startswith("cache_app_visit:")]
    assert note.endswith(
        ": a cache would miss most of the time (expected hit rate 0% for the 1 query "
        "reading it): not cached"
    )


@pytest.mark.django_db
def test_a_query_cheaper_than_a_round_trip_is_not_cached(
    client: Client, recorded: Callable[[], Store]
) -> None:
    make_catalog("default")
    result = record(client, recorded, views=["menu"])
    assert result.findings == []
    where = f"cache_app.Category query at {line_of(VIEWS, 'cheap: menu')} in menu"
    (note,) = [n for n in result.notes if n.startswith(where)]
    assert "too cheap to cache (a cache round trip costs ~0.3 ms; worth it from 0.6 ms)" in note
    assert any(n.startswith("1 query with bound parameters not judged") for n in result.notes)


# -- the arithmetic, on runs written through the store with exact durations ----------------

COUNT = 'SELECT COUNT(*) AS "__count" FROM "t"'
TOP = 'SELECT "t"."id", COUNT("u"."id") AS "n" FROM "t" LEFT OUTER JOIN "u" ON ("t"."id" = "u"."t_id") GROUP BY 1 ORDER BY 2 DESC LIMIT 10'
BY_ID = 'SELECT "t"."id" FROM "t" WHERE "t"."id" = %s'
INSERT = 'INSERT INTO "t" ("a") VALUES (%s)'
SESSION = 'SELECT "django_session"."session_data" FROM "django_session" WHERE "django_session"."session_key" = %s'
SITE = ("app/queries.py", 7, "count_t")
OTHER_SITE = ("app/views.py", 30, "home")


def q(
    sql: str, ms: float = 10.0, site: tuple[str, int, str] | None = SITE, key: int = 1
) -> QueryEvent:
    return QueryEvent(sql, "default", ms, site, key)


def req(
    i: int, endpoint: str, *events: QueryEvent, ms: float = 20.0, weight: float = 1.0, at: float = 0
) -> RequestRecord:
    return RequestRecord(
        id=i,
        endpoint=endpoint,
        view_name="v",
        method=endpoint.split()[0],
        status=200,
        started_at=1000.0 + (at or i),
        duration_ms=ms,
        db_ms=sum(e.duration_ms for e in events),
        query_count=len(events),
        sampled=True,
        weight=weight,
        queries=list(events),
    )


def analyze(tmp_path: Path, records: list[RequestRecord]) -> AnalyzerResult:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    store.ensure_schema()
    store.write("r", records)
    run = store.run("r")
    assert run is not None
    return CacheAnalyzer().analyze(AnalysisContext(store, run))


@pytest.mark.django_db
def test_hit_rate_and_savings_by_hand(tmp_path: Path) -> None:
    result = analyze(
        tmp_path,
        [
            req(0, "GET /a/", q(COUNT)),  # miss: cold
            req(1, "GET /b/", q(COUNT)),  # hit
            req(2, "POST /w/", q(INSERT, 1.0)),
            req(3, "GET /a/", q(COUNT)),  # miss: written since
            req(4, "GET /b/", q(COUNT)),  # hit
            req(5, "GET /a/", q(COUNT)),  # hit
        ],
    )
    (finding,) = result.findings
    evidence = finding.evidence
    assert (finding.id, finding.obj, finding.fix.location) == (
        "pareto.C001",
        "t",
        "app/queries.py:7",
    )
    assert (evidence["lookups"], evidence["hits"], evidence["hit_rate"]) == (5, 3, 0.6)
    # hits x (10 - 0.3) - misses x 2 x 0.3 - writes x 0.3
    assert finding.savings_ms == pytest.approx(3 * 9.7 - 2 * 0.6 - 1 * 0.3)
    assert evidence["savings_per_request_ms"] == pytest.approx(27.6 / 5, abs=1e-3)
    # The run lasts from 1000 s to 1005.02 s (the last request takes 20 ms).
    assert evidence["run_seconds"] == pytest.approx(5.02)
    assert evidence["tables"] == {
        "t": {"reads": 5, "writes": 1, "reads_per_s": 0.996, "writes_per_s": 0.199}
    }
    assert "written once in the run (0.2/s) against 5 reads (1.0/s)" in finding.message
    assert finding.endpoints == ("GET /a/", "GET /b/")
    # The pages hit once in five (a write came between): a page cache would mostly miss.
    assert "GET /a/: no page cache: expected hit rate 33% (t written 0.2/s)" in result.notes[0]
    assert result.notes[1].startswith("GET /b/: no page cache: expected hit rate 0%")


@pytest.mark.django_db
def test_sampling_weights_scale_the_savings_not_the_evidence(tmp_path: Path) -> None:
    records = [req(i, "GET /a/", q(COUNT), weight=10.0) for i in range(4)]
    (finding,) = [f for f in analyze(tmp_path, records).findings if f.id == "pareto.C001"]
    assert (finding.evidence["requests"], finding.evidence["lookups"]) == (4, 40)
    assert finding.savings_ms == pytest.approx(10 * (3 * 9.7 - 1 * 0.6))


@pytest.mark.django_db
def test_a_page_cache_counts_per_user_requests_as_misses(tmp_path: Path) -> None:
    signed_in = [q(SESSION, 0.5, OTHER_SITE), q(COUNT, 0.1, OTHER_SITE)]
    anonymous = [q(COUNT, 0.1, OTHER_SITE)]
    records = [
        req(i, "GET /home/", *(signed_in if i in (2, 5) else anonymous), ms=30) for i in range(8)
    ]
    (page,) = analyze(tmp_path, records).findings
    assert (page.id, page.obj) == ("pareto.C002", "GET /home/")
    assert (page.evidence["lookups"], page.evidence["hits"]) == (8, 5)  # 6 anonymous, 1 miss
    assert page.evidence["other_requests"] == {"bound parameters": 2}
    assert any("2 requests with bound parameters" in a for a in page.evidence["assumptions"])
    assert page.savings_ms == pytest.approx(5 * 29.7 - 3 * 0.6)
    # Not a view of this URLconf: the fix names the endpoint, without a location.
    assert page.fix.location is None and "the view of GET /home/" in page.fix.summary


@pytest.mark.django_db
def test_a_route_with_url_parameters_is_not_page_cached(tmp_path: Path) -> None:
    records = [req(i, "GET /items/<int:pk>/", q(COUNT, 0.1), ms=30) for i in range(6)]
    result = analyze(tmp_path, records)
    assert result.findings == []
    assert result.notes[0] == (
        "GET /items/<int:pk>/: no page cache: its route has URL parameters (one page per URL, "
        "and the run does not record URLs): not judged"
    )


@pytest.mark.django_db
def test_written_on_every_request(tmp_path: Path) -> None:
    records = [req(i, "GET /a/", q(INSERT, 1.0), q(COUNT), ms=0) for i in range(10)]
    result = analyze(tmp_path, records)
    assert result.findings == []
    assert result.notes == [
        "GET /a/: no page cache: 10 of 10 requests write (t): a cached page would skip the writes",
        "t: written 1.1/s, read 1.1/s: a cache would miss most of the time (expected hit rate "
        "0% for the 1 query reading it): not cached",
    ]


@pytest.mark.django_db
def test_cheap_and_parameterized_queries_are_not_cached(tmp_path: Path) -> None:
    records = [req(i, "GET /a/<int:pk>/", q(COUNT, 0.2), q(BY_ID, 50.0)) for i in range(6)]
    result = analyze(tmp_path, records)
    assert result.findings == []
    assert result.notes[1:] == [
        "t query at app/queries.py:7 in count_t: not cached: 0.20 ms a query: too cheap to "
        "cache (a cache round trip costs ~0.3 ms; worth it from 0.6 ms)",
        "1 query with bound parameters not judged: parameter values are not recorded, so "
        "whether requests repeat them is unknown and they are assumed not to (300.0 ms of "
        "the run; the largest: t at app/queries.py:7 in count_t, bound parameters)",
    ]


@pytest.mark.django_db
def test_a_limit_makes_the_call_site_part_of_the_key(tmp_path: Path) -> None:
    result = analyze(
        tmp_path,
        [
            req(0, "POST /a/", q(COUNT, site=SITE), q(TOP, site=SITE)),
            req(1, "POST /a/", q(COUNT, site=OTHER_SITE), q(TOP, site=OTHER_SITE)),
            req(2, "POST /a/", q(COUNT, site=OTHER_SITE), q(TOP, site=OTHER_SITE)),
        ],
    )
    # COUNT binds nothing: the line that ran it first filled the cache for the other line.
    (finding,) = result.findings
    assert (finding.evidence["callsite"], finding.evidence["sql"]) == (
        "app/views.py:30 in home",
        COUNT,
    )
    assert (finding.evidence["lookups"], finding.evidence["hits"]) == (2, 2)
    # TOP's LIMIT 10 is a slice written on one line: the other line's first lookup misses.
    assert result.notes == [
        "t query at app/views.py:30 in home: not cached: expected hit rate 50%: not "
        "repeated across requests often enough (2 lookups)",
        *["t query at app/queries.py:7 in count_t: not cached: expected hit rate 0%: not "
          "repeated across requests often enough (1 lookup)"] * 2,
    ]  # fmt: skip


@pytest.mark.django_db
def test_a_write_later_in_the_same_request_invalidates(tmp_path: Path) -> None:
    records = [req(i, "POST /a/", q(COUNT), q(INSERT, 1.0)) for i in range(5)]
    rows = _rows(tmp_path, records)
    (use,) = simulate(rows).reads.values()
    assert (use.lookups, use.hits, use.invalidated) == (5, 0, 4)
    (use,) = simulate([r for r in rows if r.sql.startswith("SELECT")]).reads.values()
    assert (use.lookups, use.hits) == (5, 4)  # the same reads without the writes


def _rows(path: Path, records: list[RequestRecord]) -> list[RequestQueryRow]:
    store = SQLiteStore(path / "rows.sqlite3")
    store.ensure_schema()
    store.write("r", records)
    return store.request_queries("r")


@pytest.mark.django_db
def test_a_parameter_of_few_values_is_bounded_by_the_model(tmp_path: Path) -> None:
    # blog.Article.is_published is a BooleanField: at most 2 different queries. After each
    # write, the first two lookups are counted as misses (the worst case), the rest as hits.
    published = (
        'SELECT COUNT(*) AS "__count" FROM "blog_article" WHERE "blog_article"."is_published" = %s'
    )
    update = 'UPDATE "blog_article" SET "view_count" = ("blog_article"."view_count" + %s) WHERE "blog_article"."id" = %s'
    records = [req(i, "GET /a/<slug>/", q(published)) for i in range(4)]
    records.append(req(4, "POST /w/", q(update, 1.0)))
    records += [req(i, "GET /a/<slug>/", q(published)) for i in range(5, 10)]
    (finding,) = analyze(tmp_path, records).findings
    assert (finding.id, finding.obj) == ("pareto.C001", "blog.Article")
    assert (finding.evidence["lookups"], finding.evidence["hits"]) == (9, 5)
    assert "blog_article.is_published, which can hold 2 values" in finding.evidence["identity"]
    assert "its parameters can take 2 values at most" in finding.message


@pytest.mark.django_db
def test_the_timeout_outlasts_the_gap_between_reads(tmp_path: Path) -> None:
    records = [req(i, "GET /a/", q(COUNT), ms=0, at=1 + 400 * i) for i in range(4)]
    (finding,) = [f for f in analyze(tmp_path, records).findings if f.id == "pareto.C001"]
    # 4 lookups over 1,200 s: one every 300 s; entries must live longer than that.
    assert finding.fix.code == "cached(queryset, timeout=600)"


@pytest.mark.django_db
def test_a_run_without_detail_says_so(tmp_path: Path) -> None:
    result = analyze(tmp_path, [req(0, "GET /a/")])
    assert result.notes == ["no query detail recorded in this run (no sampled requests)"]


@pytest.mark.django_db
def test_the_doctor_runs_it_by_default(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    store.ensure_schema()
    store.write("r", [req(i, "GET /a/<int:pk>/", q(COUNT)) for i in range(3)])
    diagnosis = diagnose(store, "r")
    assert [f.id for f in diagnosis.findings if f.id.startswith("pareto.C")] == ["pareto.C001"]
    assert "caching" in diagnosis.notes


@pytest.mark.parametrize(
    ("sql", "kind", "identity"),
    [
        (COUNT, READ, FIXED),
        (TOP, READ, PER_CALLSITE),  # GROUP BY 1 / ORDER BY 2 are positions, LIMIT a slice
        ('(SELECT "t"."id" FROM "t") UNION (SELECT "u"."id" FROM "u")', READ, FIXED),
        ('WITH "x" AS (SELECT "t"."id" FROM "t") SELECT "x"."id" FROM "x"', READ, FIXED),
        (BY_ID, READ, VARYING),
        ('SELECT "t"."id" FROM "t" WHERE "t"."id" IN (...)', READ, VARYING),
        ('SELECT %s AS "a" FROM "t" LIMIT 1', READ, VARYING),  # Value(1): a bound parameter
        ('SELECT "t"."id" FROM "t" ORDER BY "t"."id" ASC LIMIT 20 OFFSET 40', READ, VARYING),
        ('SELECT "t"."id" FROM "t" ORDER BY RANDOM() ASC', READ, VOLATILE),
        ('SELECT "t"."id" FROM "t" WHERE "t"."id" = %s FOR UPDATE', READ, VOLATILE),
        (INSERT, WRITE, None),
        ('UPDATE "t" SET "a" = %s WHERE "t"."id" IN (SELECT U0."id" FROM "u" U0)', WRITE, None),
        ('DELETE FROM "t" WHERE "t"."id" IN (...)', WRITE, None),
        ('SAVEPOINT "s_x"', OTHER, None),
        ('ALTER TABLE "t" ADD COLUMN "b" integer', WRITE, None),
        ("SELECT 1", OTHER, None),
    ],
)
def test_statements(sql: str, kind: str, identity: str | None) -> None:
    text = normalize(sql)
    statement = classify(text, tables_of(text))
    assert statement.kind == kind
    if identity is not None:
        assert statement.identity == identity
    if kind == WRITE:
        assert statement.tables == ("t",)  # what it writes, not what its subquery reads


def test_bound_values_name_their_columns() -> None:
    two = classify('SELECT "t"."id" FROM "t" WHERE ("t"."flag" = %s AND "t"."kind" = %s)', ("t",))
    assert (two.identity, two.columns) == (VARYING, (("t", "flag"), ("t", "kind")))
    # A collapsed IN list bound an unknown number of values: no bound.
    assert classify(BY_ID.replace("= %s", "IN (...)"), ("t",)).columns == ()


@pytest.mark.django_db
def test_the_domain_of_the_columns_bounds_the_queries(tmp_path: Path) -> None:
    rows = _rows(tmp_path, [req(i, "GET /a/", q(BY_ID)) for i in range(5)])
    (use,) = simulate(rows, domain=lambda table, column: 3).reads.values()
    assert (use.identity, use.values, use.lookups, use.hits) == (BOUNDED, 3, 5, 2)
    (use,) = simulate(rows).reads.values()
    assert (use.identity, use.hits) == (VARYING, 0)
