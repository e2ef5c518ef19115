"""Report numbers checked against a small run computed by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from django_pareto.analyze.pareto import percentile, rank
from django_pareto.report.build import build_report
from django_pareto.store.base import StoreError
from django_pareto.store.records import QueryEvent, RequestRecord
from django_pareto.store.sqlite import SQLiteStore

SITE = ("blog/views.py", 12, "feed")


def request(
    i: int,
    endpoint: str,
    ms: float,
    db: float,
    status: int = 200,
    events: list[QueryEvent] | None = None,
    weight: float = 1.0,
) -> RequestRecord:
    events = events or []
    return RequestRecord(
        id=i,
        endpoint=endpoint,
        view_name="v",
        method=endpoint.split()[0],
        status=status,
        started_at=1000.0 + i,
        duration_ms=ms,
        db_ms=db,
        query_count=len(events),
        sampled=bool(events) or weight == 1.0,
        weight=weight,
        queries=events,
    )


def q(sql: str, ms: float, site: tuple[str, int, str] | None = SITE) -> QueryEvent:
    return QueryEvent(sql, "default", ms, site)


@pytest.fixture
def report(tmp_path: Path) -> dict:  # type: ignore[type-arg]
    store = SQLiteStore(tmp_path / "s.sqlite3")
    store.ensure_schema()
    feed = "SELECT * FROM blog_article WHERE id = 7"
    author = "SELECT * FROM auth_user WHERE id = 3"
    store.write(
        "hand",
        [
            # started at t = 0, 1, 2, 3 s; the last ends at 3.05 s.
            request(0, "GET /a/", 100, 50, events=[q(feed, 30), q(author, 20)]),
            request(
                1,
                "GET /a/",
                300,
                150,
                events=[q(feed, 100), q(feed, 30), q(author, 10), q(author, 10, None)],
            ),
            request(2, "GET /b/", 50, 10, events=[q(author, 10, ("blog/api.py", 5, "tags"))]),
            request(3, "POST /c/", 50, 0, status=500),
        ],
    )
    return build_report(store, "hand")


def test_summary(report: dict) -> None:  # type: ignore[type-arg]
    assert report["requests"] == 4
    assert report["duration_s"] == pytest.approx(3.05)
    assert report["throughput_rpm"] == pytest.approx(4 / 3.05 * 60)
    assert (report["errors"], report["error_rate"], report["availability"]) == (1, 0.25, 0.75)
    # durations sorted: 50, 50, 100, 300; linear interpolation between closest ranks
    assert report["latency_ms"]["p50"] == pytest.approx(75)
    assert report["latency_ms"]["p95"] == pytest.approx(270)
    assert report["latency_ms"]["p99"] == pytest.approx(294)
    assert report["latency_ms"]["mean"] == pytest.approx(125)
    assert report["queries_per_request"] == pytest.approx(7 / 4)
    assert report["time_ms"] == {"total": 500, "database": 210, "application": 290}
    assert report["database_share"] == pytest.approx(0.42)
    assert report["bottleneck"]["component"] == "application"
    assert report["bottleneck"]["share"] == pytest.approx(0.58)


def test_endpoint_pareto(report: dict) -> None:  # type: ignore[type-arg]
    rows = {e["endpoint"]: e for e in report["endpoints"]}
    assert report["endpoints"][0]["endpoint"] == "GET /a/"
    a = rows["GET /a/"]
    assert (a["count"], a["total_ms"], a["share"], a["cumulative_share"]) == (2, 400, 0.8, 0.8)
    assert a["in_top"] is True
    assert a["p95_ms"] == pytest.approx(290)
    assert a["queries_per_request"] == 3
    assert a["db_share"] == pytest.approx(0.5)
    assert rows["GET /b/"]["in_top"] is False and rows["POST /c/"]["in_top"] is False
    assert rows["POST /c/"]["errors"] == 1
    assert report["endpoints"][-1]["cumulative_share"] == pytest.approx(1.0)


def test_query_pareto(report: dict) -> None:  # type: ignore[type-arg]
    first, second = report["queries"]
    assert first["sql"] == "SELECT * FROM blog_article WHERE id = %s"
    assert (first["calls"], first["total_ms"]) == (3, 160)
    assert first["share"] == pytest.approx(160 / 210)
    assert first["tables"] == ["blog_article"]
    assert first["callsites"] == [
        {"callsite": "blog/views.py:12 in feed", "calls": 3, "total_ms": 160}
    ]
    assert (second["calls"], second["total_ms"]) == (4, 50)
    assert second["endpoints"] == [
        {"endpoint": "GET /a/", "calls": 3, "total_ms": 40},
        {"endpoint": "GET /b/", "calls": 1, "total_ms": 10},
    ]
    assert [c["callsite"] for c in second["callsites"]] == [
        "blog/views.py:12 in feed",
        "<library code>",
        "blog/api.py:5 in tags",
    ]
    assert report["queries_total"] == 2


def test_sampled_queries_are_weighted(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    store.ensure_schema()
    # At 25% sampling one recorded request stands for four.
    store.write(
        "w",
        [request(0, "GET /a/", 10, 4, events=[q("SELECT 1 FROM t", 4)], weight=4.0)]
        + [request(i, "GET /a/", 10, 4) for i in range(1, 4)],
    )
    (only,) = build_report(store, "w")["queries"]
    assert (only["calls"], only["total_ms"]) == (4, 16)


def test_unknown_run_names_the_known_ones(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    store.ensure_schema()
    store.write("before", [request(0, "GET /a/", 1, 0)])
    with pytest.raises(StoreError, match=r"no run named 'aftr'.*runs: before"):
        build_report(store, "aftr")


@pytest.mark.parametrize(
    ("totals", "top"),
    [
        ([("a", 80), ("b", 10), ("c", 10)], ["a"]),
        ([("a", 50), ("b", 29), ("c", 21)], ["a", "b", "c"]),
        ([("a", 50), ("b", 30), ("c", 20)], ["a", "b"]),
        ([("x", 1)], ["x"]),
        ([("a", 0), ("b", 0)], ["a", "b"]),
    ],
)
def test_rank_marks_the_head_that_reaches_80_percent(totals: list, top: list) -> None:  # type: ignore[type-arg]
    assert [r.key for r in rank(totals) if r.in_top] == top


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([], 50, 0.0),
        ([7], 99, 7.0),
        ([1, 2, 3, 4], 50, 2.5),
        ([1, 2, 3, 4, 5], 95, 4.8),
        (list(range(1, 101)), 99, 99.01),
    ],
)
def test_percentile(values: list[float], p: float, expected: float) -> None:
    assert percentile(values, p) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            'SELECT "t"."a", "t"."b", "t"."c", "t"."d", "t"."e", "t"."f" FROM "t" WHERE "t"."a" = %s',
            'SELECT … FROM "t" WHERE "t"."a" = %s',
        ),
        ("SELECT COUNT(*) AS c FROM t", "SELECT COUNT(*) AS c FROM t"),
        (
            'SELECT DISTINCT "t"."aaaaaaaaaa", "t"."bbbbbbbbbbbbbbbbbb", "t"."ccccccccc" FROM t',
            "SELECT DISTINCT … FROM t",
        ),
        ('UPDATE "t" SET "a" = %s', 'UPDATE "t" SET "a" = %s'),
    ],
)
def test_short_sql_elides_long_select_lists(sql: str, expected: str) -> None:
    from django_pareto.report.terminal import short_sql

    assert short_sql(sql) == expected
