"""``pareto.N002``: the same SQL with the same parameters run again in one request.

Not a loop over rows (the parameters do not vary): a helper called from two places (a view
and a template tag), or a property read twice. The store keeps, per request and call site,
how many parameter sets were seen, so "identical" is known within one call site; across
call sites it is known only for SQL without parameters.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable

from django_pareto.analyze.findings import Finding, Fix
from django_pareto.analyze.nplusone_sql import shape_of
from django_pareto.analyze.nplusone_trace import is_select
from django_pareto.analyze.schema import SchemaMap
from django_pareto.store.records import RequestQueryRow


def _repeats_in(rows: list[RequestQueryRow]) -> list[list[RequestQueryRow]]:
    """Per fingerprint, the rows of one request that run one identical query again."""
    by_fingerprint: dict[str, list[RequestQueryRow]] = defaultdict(list)
    for row in rows:
        if is_select(row.sql) and row.distinct_params == 1 and row.calls == row.max_repeats:
            by_fingerprint[row.fingerprint_id].append(row)
    found = []
    for group in by_fingerprint.values():
        repeated = [r for r in group if r.calls >= 2]
        if len(group) >= 2 and "%s" not in group[0].sql:
            found.append(group)  # no parameters: equal SQL is an identical query
        elif repeated:
            found.append(repeated)
    return found


def repeated_findings(
    requests: Iterable[list[RequestQueryRow]],
    flagged: set[tuple[int, str]],
    schema: SchemaMap,
) -> list[Finding]:
    """N002 findings, one per fingerprint; ``flagged`` (request, fingerprint) are N001s."""
    per_fingerprint: dict[str, list[list[RequestQueryRow]]] = defaultdict(list)
    for rows in requests:
        for group in _repeats_in(rows):
            if (group[0].request_id, group[0].fingerprint_id) not in flagged:
                per_fingerprint[group[0].fingerprint_id].append(group)
    return [_finding(groups, schema) for groups in per_fingerprint.values()]


def _finding(groups: list[list[RequestQueryRow]], schema: SchemaMap) -> Finding:
    sample = groups[0][0]
    calls = [sum(r.calls for r in group) for group in groups]
    savings = 0.0
    total_ms = 0.0
    sites: dict[str, int] = defaultdict(int)
    for group in groups:
        n = sum(r.calls for r in group)
        ms = sum(r.total_ms for r in group)
        savings += (n - 1) * (ms / n) * group[0].weight
        total_ms += ms * group[0].weight
        for r in group:
            sites[r.callsite or "<unknown>"] += r.calls
    callsites = sorted(sites, key=lambda s: (-sites[s], s))
    endpoints = tuple(sorted({g[0].endpoint for g in groups}))
    shape = shape_of(sample.sql)
    model = schema.model(shape.table) if shape else None
    obj = model._meta.label if model else (shape.table if shape else None)
    what = obj or "a query"
    where = " and ".join(callsites)
    return Finding(
        id="pareto.N002",
        title=f"Repeated query on {what}",
        message=(
            f"The same query with the same parameters runs {_spread(calls)} times in one "
            f"request, from {where}."
        ),
        fix=Fix(
            "Run it once per request and reuse the result: pass it down to where it is "
            "needed again, keep it in a cached_property or memoize it on the request; or "
            "cache it across requests if it changes rarely.",
            location=callsites[0].split(" in ", 1)[0],
        ),
        savings_ms=savings,
        evidence={
            "sql": sample.sql,
            "calls_per_request": {
                "min": min(calls),
                "median": statistics.median(calls),
                "max": max(calls),
            },
            "requests": len(groups),
            "total_ms": round(total_ms, 3),
            "endpoints": list(endpoints),
            "callsites": callsites,
            "savings_formula": "sum over requests of (calls - 1) x (query ms / calls) x weight",
        },
        endpoints=endpoints,
        obj=obj,
    )


def _spread(calls: list[int]) -> str:
    low, high = min(calls), max(calls)
    return str(low) if low == high else f"{low}-{high}"
