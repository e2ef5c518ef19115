"""N+1 queries (``pareto.N001``) and repeated identical queries (``pareto.N002``).

N001: one fingerprint from one call site ``N_PLUS_ONE_THRESHOLD`` times or more in one
request with varying parameters: a loop over rows that reads a relation per row. The
finding names the relation, the line that repeats it and the line whose queryset should
change, and gives the code (select_related, prefetch_related, Count/Exists annotation,
a Prefetch with to_attr).

N002: the same SQL with the same parameters run more than once in one request, outside a
loop: compute it once per request.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable

import django

from django_pareto import conf
from django_pareto.analyze import nplusone_fix as kinds
from django_pareto.analyze.base import Analyzer
from django_pareto.analyze.context import AnalysisContext
from django_pareto.analyze.findings import AnalyzerResult, Finding, Fix
from django_pareto.analyze.nplusone_repeat import repeated_findings
from django_pareto.analyze.nplusone_trace import Loop, is_select, loops_of
from django_pareto.store.records import RequestQueryRow

_MESSAGES = {
    kinds.SELECT_RELATED: "reads {label} once per row ({calls} queries a request)",
    kinds.PREFETCH_RELATED: "reads {label} once per row ({calls} queries a request)",
    kinds.COUNT: "counts {label} once per row with .count() ({calls} queries a request)",
    kinds.EXISTS: "tests {label} once per row with .exists() ({calls} queries a request)",
    kinds.FILTERED: "filters/orders {label} once per row ({calls} queries a request)",
    kinds.BYPASSED: (
        "filters/orders {label} once per row ({calls} queries a request) although it was "
        "prefetched: a .filter()/.order_by()/.first() on a prefetched relation ignores the "
        "prefetch and queries again"
    ),
    kinds.LOOP: "runs the same lookup once per row ({calls} queries a request)",
}


class NPlusOneAnalyzer(Analyzer):
    name = "nplusone"
    ids = ("pareto.N001", "pareto.N002")

    def analyze(self, context: AnalysisContext) -> AnalyzerResult:
        threshold = conf.get().N_PLUS_ONE_THRESHOLD
        by_request: dict[int, list[RequestQueryRow]] = defaultdict(list)
        for row in context.request_queries:
            by_request[row.request_id].append(row)
        result = AnalyzerResult()
        groups: dict[tuple[object, ...], list[Loop]] = defaultdict(list)
        for rows in by_request.values():
            for loop in loops_of(rows, threshold, context.schema):
                groups[_group_key(loop)].append(loop)
        for loops in groups.values():
            result.findings.append(_finding(loops, context))
        flagged = {(lp.row.request_id, lp.row.fingerprint_id) for g in groups.values() for lp in g}
        result.findings.extend(repeated_findings(by_request.values(), flagged, context.schema))
        result.findings.sort(key=lambda f: (-f.savings_ms, f.id, f.title))
        result.notes.extend(_notes(by_request.values(), threshold))
        return result


def _group_key(loop: Loop) -> tuple[object, ...]:
    label = loop.access.label if loop.access else None
    parent = loop.parent.callsite if loop.parent else None
    root = loop.root._meta.label if loop.root else None
    return (loop.row.fingerprint_id, loop.row.callsite, loop.kind, label, root, loop.path, parent)


def _finding(loops: list[Loop], context: AnalysisContext) -> Finding:
    first = loops[0]
    row, access = first.row, first.access
    calls = [lp.row.calls for lp in loops]
    left = kinds.QUERIES_LEFT.get(first.kind, 1)
    savings = sum(
        max(lp.row.calls - left, 0) * (lp.row.total_ms / lp.row.calls) * lp.row.weight
        for lp in loops
    )
    total_ms = sum(lp.row.total_ms * lp.row.weight for lp in loops)
    endpoints = tuple(sorted({lp.row.endpoint for lp in loops}))
    parent_site = first.parent.callsite if first.parent else None
    label = access.label if access else _table_label(first, context)
    message = _MESSAGES[first.kind].format(label=label, calls=_spread(calls))
    message = f"{row.callsite or 'An unknown call site'} {message}."
    evidence: dict[str, object] = {
        "sql": row.sql,
        "kind": first.kind,
        "calls_per_request": {
            "min": min(calls),
            "median": statistics.median(calls),
            "max": max(calls),
        },
        "requests": len(loops),
        "total_ms": round(total_ms, 3),
        "endpoints": list(endpoints),
        "callsite": row.callsite,
        "parent_callsite": parent_site,
        "savings_formula": (
            f"sum over requests of (calls - {left}) x (query ms / calls) x request weight"
        ),
    }
    fix = _fix(first, context, parent_site)
    if first.parent is None and first.kind != kinds.LOOP:
        evidence["parent_untraced"] = (
            "no earlier query of this request read the parent rows: change the queryset "
            "that produces them (e.g. a cached or passed-in list)"
        )
    if access is not None and first.kind == kinds.SELECT_RELATED and django.VERSION >= (6, 1):
        evidence["fetch_mode"] = (
            "Django 6.1+: .fetch_mode(models.FETCH_PEERS) on that queryset loads this "
            "relation for all its rows in one query on first access (see QuerySet.fetch_mode)"
        )
    return Finding(
        id="pareto.N001",
        title=f"N+1 on {label}",
        message=message,
        fix=fix,
        savings_ms=savings,
        evidence=evidence,
        endpoints=endpoints,
        obj=label if first.shape is not None else None,
    )


def _fix(loop: Loop, context: AnalysisContext, parent_site: str | None) -> Fix:
    location = _location(parent_site or loop.row.callsite)
    if loop.access is None or loop.shape is None or loop.kind == kinds.LOOP:
        model = context.schema.model(loop.shape.table) if loop.shape else None
        name = model.__name__ if model else "the model"
        return Fix(
            f"Fetch every row's {name} in one query before the loop "
            f"(.filter(<key>__in=keys) or .in_bulk(keys)) instead of one query per row.",
            location=_location(loop.row.callsite),
        )
    code = kinds.fix_code(loop.kind, loop.access, loop.path, loop.shape, context.schema)
    root = loop.root.__name__ if loop.root else loop.access.parent.__name__
    where = f"evaluated at {parent_site}" if parent_site else "that loads the rows (untraced)"
    return Fix(
        f"Add {code.code} to the {root} queryset {where}; at {loop.row.callsite} read {code.read}.",
        code=code.code,
        location=location,
    )


def _table_label(loop: Loop, context: AnalysisContext) -> str:
    if loop.shape is None:
        return "a query"
    model = context.schema.model(loop.shape.table)
    return model._meta.label if model is not None else loop.shape.table


def _location(callsite: str | None) -> str | None:
    """ "file:line in function" -> "file:line"."""
    return callsite.split(" in ", 1)[0] if callsite else None


def _spread(calls: list[int]) -> str:
    low, high = min(calls), max(calls)
    return str(low) if low == high else f"{low}-{high}"


def _notes(requests: Iterable[list[RequestQueryRow]], threshold: int) -> list[str]:
    below: set[tuple[str, str | None]] = set()
    writes = 0
    rows_seen = 0
    for rows in requests:
        for row in rows:
            rows_seen += 1
            if not is_select(row.sql):
                writes += row.calls > 1
            elif 1 < row.calls < threshold and row.distinct_params != 1:
                below.add((row.fingerprint_id, row.callsite))
    notes = []
    if not rows_seen:
        notes.append("no query detail recorded in this run (no sampled requests)")
    if below:
        notes.append(
            f"{len(below)} repeated queries below the threshold of {threshold} "
            "(N_PLUS_ONE_THRESHOLD) executions from one call site in one request"
        )
    if writes:
        notes.append(f"{writes} repeated non-SELECT statements (writes, savepoints) not considered")
    return notes
