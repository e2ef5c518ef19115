"""The HTML report's data: histogram buckets, chart series and formatted rows, as plain data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from django_pareto.report import charts, page
from django_pareto.report.build import build_report, latency_histogram
from django_pareto.store.sqlite import SQLiteStore
from tests.test_report import request


@pytest.mark.parametrize(
    ("durations", "edges", "counts"),
    [
        ([], [], []),
        ([5.0], [5.0, 7.0], [1]),
        ([1.0, 1.4, 1.5, 2.9], [1.0, 1.5, 2.0, 3.0], [2, 1, 1]),
        ([0.05, 0.1], [0.0, 0.1, 0.15], [1, 1]),
        ([9.9, 10.0, 15.0], [7.0, 10.0, 15.0, 20.0], [1, 1, 1]),
        ([2e7], [7e6, 1e7], [1]),  # slower than the last edge: counted in the last bucket
    ],
)
def test_latency_histogram_buckets(
    durations: list[float], edges: list[float], counts: list[int]
) -> None:
    assert latency_histogram(durations) == {"edges_ms": edges, "counts": counts}


def test_the_report_carries_the_histogram(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    store.ensure_schema()
    store.write("r", [request(i, "GET /a/", ms, 0) for i, ms in enumerate([4, 6, 6, 40])])
    hist = build_report(store, "r")["latency_histogram"]
    assert sum(hist["counts"]) == 4
    assert hist["edges_ms"][0] == 3 and hist["edges_ms"][-1] == 50
    assert len(hist["edges_ms"]) == len(hist["counts"]) + 1


def ranked(*totals: float) -> list[dict[str, Any]]:
    """Report rows of these totals, largest first, as report.build ranks them."""
    whole, running, rows = sum(totals), 0.0, []
    for i, total in enumerate(totals):
        running += total
        rows.append(
            {
                "endpoint": f"GET /e{i}/",
                "total_ms": total,
                "cumulative_share": running / whole,
                "in_top": running - total < 0.8 * whole,
            }
        )
    return rows


def test_pareto_series_end_at_100_percent() -> None:
    rows = ranked(50, 30, 10, 7, 3)
    data = charts.pareto(rows, [r["endpoint"] for r in rows])
    assert data["labels"] == ["GET /e0/", "GET /e1/", "GET /e2/", "GET /e3/", "GET /e4/"]
    assert data["total_ms"] == [50, 30, 10, 7, 3]
    assert data["cumulative_pct"] == [50, 80, 90, 97, 100]
    assert data["in_top"] == [True, True, False, False, False]
    assert data["mark_pct"] == 80


def test_pareto_lumps_the_tail_into_one_bar() -> None:
    rows = ranked(*[10.0] * 3, *[1.0] * 7)
    data = charts.pareto(rows, [r["endpoint"] for r in rows], limit=3)
    assert data["labels"][-1] == "7 others"
    assert data["total_ms"] == [10, 10, 10, 7]
    assert data["cumulative_pct"][-1] == 100
    assert data["in_top"][-1] is False


def test_breakdown_is_per_request_database_and_application() -> None:
    report = {"endpoints": [{"endpoint": "GET /a/", "count": 4, "total_ms": 100, "db_ms": 60}]}
    assert charts.endpoint_breakdown(report) == {
        "labels": ["GET /a/"],
        "db_ms": [15.0],
        "app_ms": [10.0],
    }


def test_latency_labels_switch_to_seconds() -> None:
    report = {"latency_histogram": {"edges_ms": [700.0, 1000.0, 1500.0], "counts": [2, 1]}}
    assert charts.latency_histogram(report) == {
        "labels": ["700 ms\N{EN DASH}1 s", "1 s\N{EN DASH}1.5 s"],
        "counts": [2, 1],
    }


COMPARISON = {
    "before": "b",
    "after": "a",
    "total": {
        "before": {"requests": 2, "p50_ms": 10.0, "p95_ms": 20.0, "queries_per_request": 5.0,
                   "db_ms": 10.0, "db_ms_per_request": 5.0},
        "after": {"requests": 2, "p50_ms": 5.0, "p95_ms": 21.0, "queries_per_request": 10.0,
                  "db_ms": 10.0, "db_ms_per_request": 5.0},
        "ratio": {"p50_ms": 2.0, "p95_ms": 20 / 21, "queries_per_request": 0.5, "db_ms": 1.0,
                  "db_ms_per_request": 1.0},
    },
    "endpoints": [
        {"endpoint": "GET /gone/", "before": {"requests": 1, "p50_ms": 3.0, "p95_ms": 4.0,
         "queries_per_request": 1.0, "db_ms": 1.0, "db_ms_per_request": 1.0}, "after": None,
         "ratio": dict.fromkeys(("p50_ms", "p95_ms", "queries_per_request", "db_ms",
                                 "db_ms_per_request"))},
    ],
}  # fmt: skip


def test_comparison_bars_leave_a_gap_for_a_missing_side() -> None:
    data = charts.comparison_bars(COMPARISON, "p95_ms")
    assert (data["labels"], data["before"], data["after"]) == (["GET /gone/"], [4.0], [None])
    assert (data["before_name"], data["after_name"]) == ("b", "a")


def test_comparison_rows_mark_better_worse_and_noise() -> None:
    total, gone = page.comparison_rows(COMPARISON)
    assert total["endpoint"] == "Total" and total["requests"] == "2 / 2"
    p50, p95, queries, _ = total["metrics"]
    assert p50 == {"before": "10.0", "after": "5.0", "ratio": {"text": "2.00x", "class": "better"}}
    assert p95["ratio"]["class"] == "same"  # 5% worse is noise
    assert queries["ratio"] == {"text": "0.50x", "class": "worse"}
    assert gone["metrics"][0] == {
        "before": "3.0",
        "after": "-",
        "ratio": {"text": "-", "class": "same"},
    }


SCALE = {
    "objective": {"p95_ms": 200},
    "points": [
        {"workers": 4, "throughput_rps": 380.0, "p95_ms": 150.0},
        {"workers": 1, "throughput_rps": 120.5, "p95_ms": 80.1},
    ],
    "usl": {"lambda": 121.0, "sigma": 0.05, "kappa": 0.001, "r2": 0.99, "peak_workers": 7.3,
            "peak_throughput": 450.0, "curve": [[1, 121.0], [4, 379.0], [8, 449.0]]},
    "bottleneck": {"component": "postgresql", "utilization": 0.93, "evidence": ["cpu 93%"]},
}  # fmt: skip


def test_scale_curve_sorts_points_and_marks_the_peak() -> None:
    data = charts.scale_curve(SCALE)
    assert data["measured"] == [{"x": 1, "y": 120.5}, {"x": 4, "y": 380.0}]
    assert data["p95"] == [{"x": 1, "y": 80.1}, {"x": 4, "y": 150.0}]
    assert data["curve"][-1] == {"x": 8, "y": 449.0}
    assert data["peak"] == [{"x": 7.3, "y": 450.0}]
    assert data["objective_p95_ms"] == 200


def test_scale_without_a_fit_has_points_only() -> None:
    data = charts.scale_curve({**SCALE, "usl": None, "objective": None})
    assert (data["curve"], data["peak"], data["objective_p95_ms"]) == ([], [], None)
    facts = page.scale_facts({**SCALE, "usl": None})
    assert facts["facts"] == [("objective", "p95 ≤ 200 ms")]


def test_chart_data_has_optional_sections_only_when_given() -> None:
    report = {
        "endpoints": ranked(1.0),
        "queries": [],
        "latency_histogram": {"edges_ms": [], "counts": []},
    }
    report["endpoints"][0].update(count=1, db_ms=0.5)
    assert set(charts.chart_data(report)) == {"endpoints", "queries", "latency", "breakdown"}
    both = charts.chart_data(report, COMPARISON, SCALE)
    assert {"compare_p95", "compare_queries", "scale"} <= set(both)
    assert "scale" not in charts.chart_data(report, None, {**SCALE, "points": []})


def test_summary_cards_format_and_keep_the_raw_value() -> None:
    report = {
        "throughput_rpm": 1234.4, "availability": 0.995, "error_rate": 0.005, "errors": 3,
        "latency_ms": {"mean": 12.0, "p50": 10.04, "p95": 1500.0, "p99": 2000.0, "max": 2500.0},
        "requests": 600, "duration_s": 29.2, "database_share": 0.625,
        "queries_per_request": 7.25,
    }  # fmt: skip
    cards = {c["metric"]: c for c in page.summary_cards(report)}
    assert cards["throughput"]["text"] == "1,234/min"
    assert cards["throughput"]["detail"] == "20.6 requests/s"
    assert cards["availability"]["text"] == "99.50%"
    assert cards["error_rate"]["text"] == "0.50%"
    assert cards["p50"]["text"] == "10.0 ms" and cards["p95"]["text"] == "1,500.0 ms"
    assert cards["requests"]["text"] == "600" and cards["database_share"]["text"] == "62.5%"
    assert float(cards["p50"]["value"]) == 10.04
