"""Build the report of a run as plain data: the JSON schema of docs/report-schema.md."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from django_pareto.analyze.pareto import percentile, rank_groups
from django_pareto.store.base import Store, StoreError
from django_pareto.store.records import QueryGroupRow, RequestRow

SCHEMA_VERSION = 1
TOP_BREAKDOWN = 5  # endpoints and call sites listed per query
# Histogram edges: six per decade (1, 1.5, 2, 3, 5, 7 x 10^k), roughly log-spaced so that
# 2 ms and 2 s requests both get readable buckets, and fixed so that runs compare bucket
# by bucket. From 0 (anything under 0.1 ms) to 10^7 ms.
HISTOGRAM_EDGES_MS = (
    0.0,
    *(round(step * 10.0**k, 6) for k in range(-1, 7) for step in (1, 1.5, 2, 3, 5, 7)),
    1e7,
)


def build_report(store: Store, run_name: str, *, query_limit: int = 50) -> dict[str, Any]:
    run = store.run(run_name)
    if run is None:
        known = ", ".join(r.name for r in store.runs()) or "none yet"
        raise StoreError(f"no run named {run_name!r} in {store.description} (runs: {known})")
    requests = store.request_rows(run_name)
    groups = store.query_groups(run_name)
    totals = summary(requests)
    queries = _queries(groups)
    return {
        "schema_version": SCHEMA_VERSION,
        "run": run.name,
        "created_at": datetime.fromtimestamp(run.created_at, UTC).isoformat(),
        "meta": run.meta,
        "faults": run.faults,
        **totals,
        "latency_histogram": latency_histogram([r.duration_ms for r in requests]),
        "endpoints": endpoint_rows(requests),
        "queries_total": len(queries),
        "queries": queries[:query_limit],
        "bottleneck": _bottleneck(totals),
    }


def summary(requests: list[RequestRow]) -> dict[str, Any]:
    count = len(requests)
    durations = [r.duration_ms for r in requests]
    total_ms = sum(durations)
    db_ms = sum(r.db_ms for r in requests)
    errors = sum(1 for r in requests if r.status >= 500)
    if requests:
        span_s = max(r.started_at + r.duration_ms / 1000 for r in requests) - min(
            r.started_at for r in requests
        )
    else:
        span_s = 0.0
    return {
        "requests": count,
        "duration_s": span_s,
        "throughput_rpm": count / span_s * 60 if span_s > 0 else 0.0,
        "errors": errors,
        "error_rate": errors / count if count else 0.0,
        "availability": 1 - errors / count if count else 1.0,
        "latency_ms": {
            "mean": total_ms / count if count else 0.0,
            "p50": percentile(durations, 50),
            "p95": percentile(durations, 95),
            "p99": percentile(durations, 99),
            "max": max(durations, default=0.0),
        },
        "queries_per_request": sum(r.query_count for r in requests) / count if count else 0.0,
        "time_ms": {
            "total": total_ms,
            "database": db_ms,
            "application": max(total_ms - db_ms, 0.0),
        },
        "database_share": db_ms / total_ms if total_ms else 0.0,
    }


def latency_histogram(durations: list[float]) -> dict[str, list[Any]]:
    """Counts of ``durations`` in the buckets of ``HISTOGRAM_EDGES_MS`` from the one holding
    the fastest to the one holding the slowest: bucket i is ``edges[i] <= ms < edges[i + 1]``.
    """
    if not durations:
        return {"edges_ms": [], "counts": []}
    last = len(HISTOGRAM_EDGES_MS) - 2  # the last bucket also takes anything slower
    slots = [min(bisect_right(HISTOGRAM_EDGES_MS, d) - 1, last) for d in durations]
    first, end = min(slots), max(slots) + 1
    counts = [0] * (end - first)
    for slot in slots:
        counts[slot - first] += 1
    return {"edges_ms": list(HISTOGRAM_EDGES_MS[first : end + 1]), "counts": counts}


def endpoint_rows(requests: list[RequestRow]) -> list[dict[str, Any]]:
    result = []
    for item, rows in rank_groups(requests, lambda r: r.endpoint, lambda r: r.duration_ms):
        durations = [r.duration_ms for r in rows]
        db = sum(r.db_ms for r in rows)
        result.append(
            {
                "endpoint": item.key,
                "count": len(rows),
                "total_ms": item.total,
                "share": item.share,
                "cumulative_share": item.cumulative_share,
                "in_top": item.in_top,
                "mean_ms": item.total / len(rows),
                "p50_ms": percentile(durations, 50),
                "p95_ms": percentile(durations, 95),
                "p99_ms": percentile(durations, 99),
                "db_ms": db,
                "db_share": db / item.total if item.total else 0.0,
                "queries_per_request": sum(r.query_count for r in rows) / len(rows),
                "errors": sum(1 for r in rows if r.status >= 500),
            }
        )
    return result


def _queries(groups: list[QueryGroupRow]) -> list[dict[str, Any]]:
    result = []
    for item, rows in rank_groups(groups, lambda g: g.fingerprint_id, lambda g: g.total_ms):
        calls = sum(g.calls for g in rows)
        result.append(
            {
                "fingerprint": item.key,
                "sql": rows[0].sql,
                "calls": calls,
                "total_ms": item.total,
                "mean_ms": item.total / calls if calls else 0.0,
                "share": item.share,
                "cumulative_share": item.cumulative_share,
                "in_top": item.in_top,
                "tables": list(rows[0].tables),
                "endpoints": _breakdown(rows, "endpoint"),
                "callsites": _breakdown(rows, "callsite"),
            }
        )
    return result


def _breakdown(rows: list[QueryGroupRow], attribute: str) -> list[dict[str, Any]]:
    calls: dict[str, float] = defaultdict(float)
    totals: dict[str, float] = defaultdict(float)
    for g in rows:
        key = getattr(g, attribute) or "<library code>"
        calls[key] += g.calls
        totals[key] += g.total_ms
    top = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_BREAKDOWN]
    return [{attribute: key, "calls": calls[key], "total_ms": total} for key, total in top]


def _bottleneck(totals: dict[str, Any]) -> dict[str, Any]:
    share = totals["database_share"]
    # Database time is measured around the driver call; building the SQL and the model
    # instances is Python time, so many queries also inflate the application's share.
    per_request = (
        f" At {totals['queries_per_request']:.0f} queries per request, part of that is the "
        "ORM's own work per query (compiling SQL, building model instances): fewer queries "
        "cut both shares."
        if totals["queries_per_request"] >= 10
        else ""
    )
    if totals["requests"] == 0:
        return {"component": None, "share": 0.0, "explanation": "No requests were recorded."}
    if share >= 0.5:
        return {
            "component": "database",
            "share": share,
            "explanation": (
                f"{share:.0%} of request time is spent waiting for the database. Fix the top "
                "queries first (N+1s, missing indexes, cacheable results): adding app workers "
                "would only queue more work on the database."
            ),
        }
    return {
        "component": "application",
        "share": 1 - share,
        "explanation": (
            f"{1 - share:.0%} of request time is spent in Python (views, templates, "
            "serialization, middleware). Profile the top endpoints; cache rendered pages or "
            "fragments; more workers scale this part while the database has headroom." + per_request
        ),
    }
