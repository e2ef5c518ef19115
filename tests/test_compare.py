"""Run comparison numbers checked against two small runs computed by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from django_pareto.report.compare import render_comparison
from django_pareto.store.base import StoreError
from django_pareto.store.sqlite import SQLiteStore
from django_pareto.verify.compare import compare_runs
from tests.test_report import q, request

SQL = "SELECT * FROM blog_article WHERE id = 7"


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    store.ensure_schema()
    store.write(
        "before",
        [
            request(0, "GET /a/", 100, 60, events=[q(SQL, 30)] * 4),
            request(1, "GET /a/", 300, 200, events=[q(SQL, 50)] * 4),
            request(2, "GET /b/", 50, 10, events=[q(SQL, 10)]),
            request(3, "GET /old/", 20, 0),
        ],
    )
    store.write(
        "after",
        [
            request(10, "GET /a/", 50, 20, events=[q(SQL, 20)]),
            request(11, "GET /a/", 150, 40, events=[q(SQL, 40)]),
            request(12, "GET /b/", 50, 10, events=[q(SQL, 10)]),
            request(13, "GET /new/", 10, 0),
        ],
    )
    return store


@pytest.fixture
def data(store: SQLiteStore) -> dict[str, Any]:
    return compare_runs(store, "before", "after")


def test_total(data: dict[str, Any]) -> None:
    before, after, ratio = (data["total"][k] for k in ("before", "after", "ratio"))
    assert (before["requests"], after["requests"]) == (4, 4)
    # durations before 20, 50, 100, 300; after 10, 50, 50, 150
    assert (before["p50_ms"], after["p50_ms"]) == (75, 50)
    assert before["p95_ms"] == pytest.approx(270)
    assert after["p95_ms"] == pytest.approx(135)
    assert (before["queries_per_request"], after["queries_per_request"]) == (9 / 4, 3 / 4)
    assert (before["db_ms"], after["db_ms"]) == (270, 70)
    assert ratio["p50_ms"] == pytest.approx(1.5)
    assert ratio["p95_ms"] == pytest.approx(2.0)
    assert ratio["queries_per_request"] == pytest.approx(3.0)
    assert ratio["db_ms"] == pytest.approx(270 / 70)
    assert ratio["db_ms_per_request"] == pytest.approx(270 / 70)


def test_endpoints_in_before_pareto_order_then_new_ones(data: dict[str, Any]) -> None:
    assert [e["endpoint"] for e in data["endpoints"]] == [
        "GET /a/",
        "GET /b/",
        "GET /old/",
        "GET /new/",
    ]
    a = data["endpoints"][0]
    assert (a["before"]["p50_ms"], a["after"]["p50_ms"]) == (200, 100)
    assert (a["before"]["queries_per_request"], a["after"]["queries_per_request"]) == (4, 1)
    assert a["ratio"]["queries_per_request"] == 4
    assert a["ratio"]["db_ms"] == pytest.approx(260 / 60)
    b = data["endpoints"][1]
    assert b["ratio"] == dict.fromkeys(b["ratio"], 1.0)


def test_endpoint_on_one_side_only_has_no_ratio(data: dict[str, Any]) -> None:
    old, new = data["endpoints"][2], data["endpoints"][3]
    assert old["after"] is None and new["before"] is None
    assert set(old["ratio"].values()) == {None} == set(new["ratio"].values())


def test_zero_after_gives_no_ratio_unless_zero_before(store: SQLiteStore) -> None:
    store.write("none", [request(20, "GET /old/", 20, 0)])
    (old,) = compare_runs(store, "before", "none")["endpoints"][2:3]
    assert old["ratio"]["queries_per_request"] == 1.0  # 0 queries before and after
    data = compare_runs(store, "before", "none")
    assert data["total"]["ratio"]["queries_per_request"] is None  # 9/4 -> 0


def test_unknown_run(store: SQLiteStore) -> None:
    with pytest.raises(StoreError, match=r"no run named 'aftr'.*runs: before, after"):
        compare_runs(store, "before", "aftr")


def test_terminal_table(data: dict[str, Any]) -> None:
    console = Console(record=True, width=200)
    render_comparison(data, console)
    text = console.export_text()
    assert "before -> after" in text
    assert "TOTAL" in text and "GET /new/" in text
    assert "4.00x" in text  # GET /a/ queries per request
    assert "75.0 -> 50.0" in text
