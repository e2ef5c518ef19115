"""Compare two runs side by side: per endpoint and in total, with before/after ratios.

The numbers come from the same functions as the report of one run (``report.build``), so a
comparison never disagrees with the two reports it summarizes.
"""

from __future__ import annotations

from typing import Any

from django_pareto.report.build import endpoint_rows, summary
from django_pareto.store.base import Store, StoreError
from django_pareto.store.records import RequestRow

SCHEMA_VERSION = 1
# The metrics compared; for each, ratio = before / after, so > 1 means "after" is better
# (faster, fewer queries) and every column of the table reads the same way.
METRICS = ("p50_ms", "p95_ms", "queries_per_request", "db_ms", "db_ms_per_request")


def compare_runs(store: Store, before: str, after: str) -> dict[str, Any]:
    """The comparison of run ``before`` with run ``after`` as plain data (JSON-ready)."""
    rows = {}
    for name in (before, after):
        if store.run(name) is None:
            known = ", ".join(r.name for r in store.runs()) or "none yet"
            raise StoreError(f"no run named {name!r} in {store.description} (runs: {known})")
        rows[name] = store.request_rows(name)
    a, b = _by_endpoint(rows[before]), _by_endpoint(rows[after])
    # Endpoints in the order of the "before" Pareto: the ones that mattered most first;
    # endpoints seen only "after" come last.
    order = list(a) + [e for e in b if e not in a]
    return {
        "schema_version": SCHEMA_VERSION,
        "before": before,
        "after": after,
        "total": _side_by_side(_total(rows[before]), _total(rows[after])),
        "endpoints": [{"endpoint": e, **_side_by_side(a.get(e), b.get(e))} for e in order],
    }


def _total(requests: list[RequestRow]) -> dict[str, float]:
    s = summary(requests)
    return _metrics(
        s["requests"],
        s["latency_ms"]["p50"],
        s["latency_ms"]["p95"],
        s["queries_per_request"],
        s["time_ms"]["database"],
    )


def _by_endpoint(requests: list[RequestRow]) -> dict[str, dict[str, float]]:
    return {
        e["endpoint"]: _metrics(
            e["count"], e["p50_ms"], e["p95_ms"], e["queries_per_request"], e["db_ms"]
        )
        for e in endpoint_rows(requests)
    }


def _metrics(count: int, p50: float, p95: float, qpr: float, db: float) -> dict[str, float]:
    return {
        "requests": count,
        "p50_ms": p50,
        "p95_ms": p95,
        "queries_per_request": qpr,
        "db_ms": db,
        # Total database time grows with the number of requests; per request it compares
        # runs of different lengths fairly.
        "db_ms_per_request": db / count if count else 0.0,
    }


def _side_by_side(
    before: dict[str, float] | None, after: dict[str, float] | None
) -> dict[str, Any]:
    ratio: dict[str, float | None] = {}
    for metric in METRICS:
        if before is None or after is None:
            ratio[metric] = None
        elif after[metric]:
            ratio[metric] = before[metric] / after[metric]
        else:
            # Nothing left after (e.g. 0 queries per request): no finite ratio to show.
            ratio[metric] = None if before[metric] else 1.0
    return {"before": before, "after": after, "ratio": ratio}
