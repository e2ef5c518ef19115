"""Chart data for the HTML report: pure functions of the report, comparison and scale dicts.

Each function returns what one Chart.js chart needs (labels and series, in the units its
axes show), so the page's script only hands them to Chart.js and computes nothing.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from django_pareto.report.terminal import short_sql

# A bar chart of 200 endpoints is a grey comb: past this many bars the rest become one bar.
PARETO_BARS = 30
PARETO_MARK_PCT = 80.0  # the Pareto principle's line, drawn on the cumulative axis
BREAKDOWN_BARS = 25
COMPARISON_BARS = 25


def _pct(share: float) -> float:
    # Shares summed in floating point end at 0.9999999999999999: round so the line ends at 100.
    return round(share * 100, 2)


def pareto(
    rows: list[dict[str, Any]], labels: list[str], limit: int = PARETO_BARS
) -> dict[str, Any]:
    """Bars of total time, largest first, with the cumulative share (in %) as a line.

    ``rows`` are ranked report rows (``total_ms``, ``cumulative_share``, ``in_top``);
    ``labels`` names each row. Rows past ``limit`` are lumped into one last bar.
    """
    head, rest = rows[:limit], rows[limit:]
    data: dict[str, Any] = {
        "labels": labels[:limit],
        "total_ms": [row["total_ms"] for row in head],
        "cumulative_pct": [_pct(row["cumulative_share"]) for row in head],
        "in_top": [row["in_top"] for row in head],
        "mark_pct": PARETO_MARK_PCT,
    }
    if rest:
        data["labels"].append(f"{len(rest)} others")
        data["total_ms"].append(sum(row["total_ms"] for row in rest))
        data["cumulative_pct"].append(_pct(rest[-1]["cumulative_share"]))
        data["in_top"].append(False)
    return data


def endpoint_pareto(report: dict[str, Any]) -> dict[str, Any]:
    rows = report["endpoints"]
    return pareto(rows, [row["endpoint"] for row in rows])


def query_pareto(report: dict[str, Any]) -> dict[str, Any]:
    """The queries' Pareto; bars are numbered like the table under the chart (#1, #2...)."""
    rows = report["queries"]
    data = pareto(rows, [f"#{i}" for i in range(1, len(rows) + 1)])
    data["sql"] = [short_sql(row["sql"], 160) for row in rows[:PARETO_BARS]]
    return data


def _duration(ms: float) -> str:
    return f"{ms / 1000:g} s" if ms >= 1000 else f"{ms:g} ms"


def latency_histogram(report: dict[str, Any]) -> dict[str, Any]:
    hist = report["latency_histogram"]
    edges = hist["edges_ms"]
    return {
        "labels": [f"{_duration(lo)}\N{EN DASH}{_duration(hi)}" for lo, hi in pairwise(edges)],
        "counts": hist["counts"],
    }


def endpoint_breakdown(report: dict[str, Any], limit: int = BREAKDOWN_BARS) -> dict[str, Any]:
    """Mean time per request of each endpoint, split into database and application time."""
    rows = report["endpoints"][:limit]
    return {
        "labels": [row["endpoint"] for row in rows],
        "db_ms": [row["db_ms"] / row["count"] for row in rows],
        # Database time is timed inside the request; the clamp only absorbs rounding.
        "app_ms": [max(row["total_ms"] - row["db_ms"], 0.0) / row["count"] for row in rows],
    }


def comparison_bars(
    comparison: dict[str, Any], metric: str, limit: int = COMPARISON_BARS
) -> dict[str, Any]:
    """One metric of each endpoint before and after; ``None`` where a run lacks the endpoint."""
    rows = comparison["endpoints"][:limit]

    def side(row: dict[str, Any], name: str) -> float | None:
        values = row[name]
        return None if values is None else float(values[metric])

    return {
        "metric": metric,
        "labels": [row["endpoint"] for row in rows],
        "before_name": comparison["before"],
        "after_name": comparison["after"],
        "before": [side(row, "before") for row in rows],
        "after": [side(row, "after") for row in rows],
    }


def scale_curve(scale: dict[str, Any]) -> dict[str, Any]:
    """Measured throughput per worker count, the fitted USL curve and its peak, and p95."""
    points = sorted(scale["points"], key=lambda p: p["workers"])
    usl = scale.get("usl") or {}
    peak = []
    if usl.get("peak_workers") is not None and usl.get("peak_throughput") is not None:
        peak = [{"x": usl["peak_workers"], "y": usl["peak_throughput"]}]
    objective = (scale.get("objective") or {}).get("p95_ms")
    return {
        "measured": [{"x": p["workers"], "y": p["throughput_rps"]} for p in points],
        "p95": [{"x": p["workers"], "y": p["p95_ms"]} for p in points],
        "curve": [{"x": n, "y": x} for n, x in usl.get("curve") or []],
        "peak": peak,
        "objective_p95_ms": objective,
    }


def chart_data(
    report: dict[str, Any],
    comparison: dict[str, Any] | None = None,
    scale: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the page's script draws, keyed by the ``data-chart`` of its canvas."""
    charts: dict[str, Any] = {
        "endpoints": endpoint_pareto(report),
        "queries": query_pareto(report),
        "latency": latency_histogram(report),
        "breakdown": endpoint_breakdown(report),
    }
    if comparison is not None:
        charts["compare_p95"] = comparison_bars(comparison, "p95_ms")
        charts["compare_queries"] = comparison_bars(comparison, "queries_per_request")
    if scale is not None and scale.get("points"):
        charts["scale"] = scale_curve(scale)
    return charts
