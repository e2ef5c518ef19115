"""What the HTML report shows as text: numbers formatted, rows and findings laid out.

Pure functions of the report, diagnosis, comparison and scale dicts. Their strings go into
an autoescaping template: nothing here is marked safe.
"""

from __future__ import annotations

import json
from typing import Any

from django_pareto.report.compare import SIGNIFICANT
from django_pareto.report.terminal import short_sql


def fmt_ms(value: float) -> str:
    return f"{value:,.1f} ms"


def fmt_pct(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}%}"


def fmt_rate(per_minute: float) -> str:
    return f"{per_minute:,.0f}/min"


def summary_cards(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline numbers: ``metric`` names the card, ``value`` is the raw number."""
    lat = report["latency_ms"]
    rpm = report["throughput_rpm"]
    cards = [
        ("throughput", "Throughput", rpm, fmt_rate(rpm), f"{rpm / 60:,.1f} requests/s"),
        (
            "availability",
            "Availability",
            report["availability"],
            fmt_pct(report["availability"], 2),
            "share answered without a 5xx",
        ),
        (
            "error_rate",
            "Error rate",
            report["error_rate"],
            fmt_pct(report["error_rate"], 2),
            f"{report['errors']:,} server errors",
        ),
        ("p50", "p50 latency", lat["p50"], fmt_ms(lat["p50"]), f"mean {fmt_ms(lat['mean'])}"),
        ("p95", "p95 latency", lat["p95"], fmt_ms(lat["p95"]), "95% of requests are faster"),
        ("p99", "p99 latency", lat["p99"], fmt_ms(lat["p99"]), f"max {fmt_ms(lat['max'])}"),
        (
            "requests",
            "Requests",
            report["requests"],
            f"{report['requests']:,}",
            f"in {report['duration_s']:,.1f} s",
        ),
        (
            "database_share",
            "Time in database",
            report["database_share"],
            fmt_pct(report["database_share"]),
            f"{report['queries_per_request']:,.1f} queries per request",
        ),
    ]
    # ``value`` as text here: the template would localize a number ("1.234,5" in some
    # projects), and a test or a script reads it back with parseFloat.
    return [
        {"metric": metric, "label": label, "value": repr(value), "text": text, "detail": detail}
        for metric, label, value, text, detail in cards
    ]


def endpoint_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "endpoint": e["endpoint"],
            "count": f"{e['count']:,}",
            "total": fmt_ms(e["total_ms"]),
            "share": fmt_pct(e["share"]),
            "cumulative": fmt_pct(e["cumulative_share"]),
            "mean": fmt_ms(e["mean_ms"]),
            "p95": fmt_ms(e["p95_ms"]),
            "db_share": fmt_pct(e["db_share"]),
            "queries": f"{e['queries_per_request']:,.1f}",
            "errors": f"{e['errors']:,}",
            "in_top": e["in_top"],
        }
        for e in report["endpoints"]
    ]


def query_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "rank": i,
            "sql": short_sql(q["sql"], 600),
            "calls": f"{q['calls']:,.0f}",
            "total": fmt_ms(q["total_ms"]),
            "mean": fmt_ms(q["mean_ms"]),
            "share": fmt_pct(q["share"]),
            "in_top": q["in_top"],
            "tables": ", ".join(q["tables"]) or "-",
            "callsites": [c["callsite"] for c in q["callsites"][:3]],
            "endpoints": [e["endpoint"] for e in q["endpoints"][:3]],
        }
        for i, q in enumerate(report["queries"], start=1)
    ]


def finding_items(diagnosis: dict[str, Any]) -> list[dict[str, Any]]:
    items = []
    for f in diagnosis["findings"]:
        fix = f["fix"]
        sql = [spec["sql"] for spec in (fix.get("add_index"), fix.get("remove_index")) if spec]
        items.append(
            {
                "id": f["id"],
                "title": f["title"],
                "message": f["message"],
                "level": f["level"],
                "savings": fmt_ms(f["savings_ms"]),
                "endpoints": f["endpoints"][:5],
                "summary": fix["summary"],
                "location": fix.get("location"),
                "code": fix.get("code"),
                "sql": "\n".join(s for s in sql if s),
                "evidence": json.dumps(f["evidence"], indent=2, default=str),
            }
        )
    return items


def analyzer_notes(diagnosis: dict[str, Any]) -> list[tuple[str, str]]:
    """What each analyzer looked at and did not flag, one (analyzer, note) per line."""
    return [(name, note) for name, notes in diagnosis["notes"].items() for note in notes]


def _ratio(value: float | None) -> dict[str, str]:
    if value is None:
        return {"text": "-", "class": "same"}
    # The terminal's rule (report.compare): within 10% either way is noise.
    kind = "better" if value >= SIGNIFICANT else "worse" if value <= 1 / SIGNIFICANT else "same"
    return {"text": f"{value:.2f}x", "class": kind}


COMPARED = (
    ("p50_ms", "{:,.1f}"),
    ("p95_ms", "{:,.1f}"),
    ("queries_per_request", "{:,.1f}"),
    ("db_ms_per_request", "{:,.1f}"),
)


def comparison_rows(comparison: dict[str, Any]) -> list[dict[str, Any]]:
    """The total first, then each endpoint: requests, and each metric before -> after."""
    rows = []
    for row in [{"endpoint": "Total", **comparison["total"]}, *comparison["endpoints"]]:
        before, after = row["before"], row["after"]

        def cell(side: dict[str, Any] | None, metric: str, fmt: str) -> str:
            return "-" if side is None else fmt.format(side[metric])

        requests = f"{cell(before, 'requests', '{:,}')} / {cell(after, 'requests', '{:,}')}"
        rows.append(
            {
                "endpoint": row["endpoint"],
                "requests": requests,
                "metrics": [
                    {
                        "before": cell(before, metric, fmt),
                        "after": cell(after, metric, fmt),
                        "ratio": _ratio(row["ratio"][metric]),
                    }
                    for metric, fmt in COMPARED
                ],
            }
        )
    return rows


def scale_facts(scale: dict[str, Any]) -> dict[str, Any]:
    usl = scale.get("usl")
    facts: list[tuple[str, str]] = []
    if usl:
        if usl.get("lambda") is not None:
            facts.append(("one worker (λ)", f"{usl['lambda']:,.1f} req/s"))
        facts += [
            ("contention (σ)", f"{usl['sigma']:.4f}"),
            ("coherency (κ)", f"{usl['kappa']:.5f}"),
            ("fit R²", f"{usl['r2']:.3f}"),
        ]
        if usl.get("peak_workers") is not None:
            facts.append(("peak", f"{usl['peak_workers']:.1f} workers"))
        if usl.get("peak_throughput") is not None:
            facts.append(("peak throughput", f"{usl['peak_throughput']:,.1f} req/s"))
    objective = (scale.get("objective") or {}).get("p95_ms")
    if objective is not None:
        facts.append(("objective", f"p95 ≤ {objective:,.0f} ms"))
    return {"facts": facts, "bottleneck": scale.get("bottleneck")}


def scale_points(scale: dict[str, Any]) -> list[dict[str, str]]:
    """One row per worker count measured: capacity within the objective, its p95, flat out."""

    def number(value: Any, unit: str = "") -> str:
        return "-" if value is None else f"{value:,.1f}{unit}"

    return [
        {
            "workers": str(point["workers"]),
            "throughput": number(point.get("throughput_rps"), " req/s"),
            "p95": number(point.get("p95_ms"), " ms"),
            "closed_loop": number(point.get("closed_loop_rps"), " req/s"),
            "bottleneck": (point.get("bottleneck") or {}).get("component") or "-",
        }
        for point in sorted(scale["points"], key=lambda p: p["workers"])
    ]


def meta_items(report: dict[str, Any]) -> list[tuple[str, str]]:
    def text(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    return [(str(key), text(value)) for key, value in sorted(report["meta"].items())]
