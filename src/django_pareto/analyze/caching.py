"""Caching advice: ``pareto.C001`` queryset cache, ``C002`` page cache, ``C003`` fragment cache.

The run is replayed against a cache invalidated on every write to a table it read (see
``caching_model``): a read hits when an identical read came after the last such write.
Something is advised when, over the run:

- a hit saves at least twice a cache round trip (``min_speedup`` x ``round_trip_ms``):
  below that the lookup, the (un)pickling and the staleness risk eat the gain;
- the cache would answer at least half of its lookups (``min_hit_rate``), and at least two
  sampled requests would hit: below that the tables are written about as often as read
  (or the query is not repeated across requests), and a cache mostly misses;
- the net time saved is positive: hits x (time - round trip) - misses x 2 round trips
  (a GET that misses, then a SET) - writes to its tables x 1 round trip (invalidation).

What:

- C002: a whole page (GET route without URL parameters) whose requests write nothing and
  run only parameterless queries: ``@cache_view``. Requests with bound parameters (a
  signed-in viewer's session, an id from the query string) count as misses.
- C003: a query a template evaluates (its call site is a template line): a
  ``{% cachefragment %}`` there caches that part of a page that as a whole cannot be.
- C001: any other such query: ``.cache()`` on the queryset (or ``cached(queryset)``), one
  finding per line of code to change.

A page cache and a query cache on the same requests save the same time once: C001/C003
list such endpoints in ``evidence["page_cache"]``. Repeats of a query within one request
are ``pareto.N002``'s and are not counted here. What was looked at and not advised is in
the notes, with why (a write-heavy table, a query too cheap to cache, parameters unknown).
"""

from __future__ import annotations

import inspect
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from django.db import models
from django.urls import Resolver404, resolve

from django_pareto.analyze.base import Analyzer
from django_pareto.analyze.caching_model import (
    BOUNDED,
    FIXED,
    PER_CALLSITE,
    ROUND_TRIP_MS,
    VOLATILE,
    CacheRun,
    PageUse,
    ReadUse,
    main_table,
    simulate,
)
from django_pareto.analyze.context import AnalysisContext
from django_pareto.analyze.findings import AnalyzerResult, Finding, Fix

MAX_NOTES = 12  # per kind of note: the largest first, then how many more
SAVINGS_FORMULA = (
    "hits x (mean ms - round trip) - misses x 2 round trips (a GET that misses, a SET) "
    "- writes to its tables x 1 round trip (invalidation), weighted by sampling"
)
INVALIDATION = (
    "invalidated automatically when any table it read is written (writes the run did not "
    "record, e.g. by another application, are not in this estimate: call "
    "django_pareto.querycache.invalidate(table) for those)"
)


@dataclass(frozen=True)
class Estimate:
    """What a cache would have done for one thing (a query at a line, a page) over the run."""

    lookups: float
    hits: float
    invalidated: float  # misses because a table was written since the entry was filled
    hit_requests: int  # sampled requests that hit
    cost_ms: float  # what a hit saves before the round trip: the query's (page's) mean
    writes: float  # writes to the tables it reads (each invalidates: one cache write)
    savings_ms: float

    @property
    def hit_rate(self) -> float:
        return self.hits / self.lookups if self.lookups else 0.0


class CacheAnalyzer(Analyzer):
    name = "caching"
    ids = ("pareto.C001", "pareto.C002", "pareto.C003")

    # Subclass and register the subclass in PARETO["ANALYZERS"] to change these.
    round_trip_ms: ClassVar[float] = ROUND_TRIP_MS
    min_hit_rate: ClassVar[float] = 0.5
    min_speedup: ClassVar[float] = 2.0
    timeout: ClassVar[int] = 300  # seconds: a safety net; invalidation bounds staleness

    def analyze(self, context: AnalysisContext) -> AnalyzerResult:
        result = AnalyzerResult()
        run = simulate(context.request_queries, domain=lambda t, c: _domain(context, t, c))
        if not run.reads and not run.pages:
            result.notes.append("no query detail recorded in this run (no sampled requests)")
            return result
        judge = _Judge(self, context, run)
        pages = judge.pages(result)
        judge.queries(result, pages)
        result.findings.sort(key=lambda f: (-f.savings_ms, f.id, f.title))
        return result


def _domain(context: AnalysisContext, table: str, column: str) -> int | None:
    """How many values a column can hold, when the model says it is few: a boolean, choices."""
    f = context.schema.field(table, column)
    if f is None:
        return None
    if isinstance(f, models.BooleanField):
        n = 2
    elif f.choices:
        n = len(list(f.flatchoices))
    else:
        return None
    return n + 1 if f.null else n


class _Judge:
    """One analysis: the replayed run, its rates, and the findings and notes built from it."""

    def __init__(self, analyzer: CacheAnalyzer, context: AnalysisContext, run: CacheRun):
        self.a = analyzer
        self.context = context
        self.run = run
        info = context.run
        span = (info.last_request_end or 0.0) - (info.first_request_at or 0.0)
        self.seconds = max(span, 0.0)
        weights: dict[str, float] = defaultdict(float)
        self.page_ms: dict[str, float] = defaultdict(float)  # endpoint -> total time
        self.statuses: dict[str, Counter[int]] = defaultdict(Counter)
        for request in context.requests:
            weights[request.endpoint] += request.weight
            self.page_ms[request.endpoint] += request.duration_ms * request.weight
            self.statuses[request.endpoint][request.status] += 1
        self.mean_ms = {e: self.page_ms[e] / w for e, w in weights.items() if w}

    # -- numbers --------------------------------------------------------------------------
    def rate(self, count: float) -> str:
        return f"{count / self.seconds:.1f}/s" if self.seconds else f"{count:g} times"

    def traffic(self, tables: Iterable[str]) -> dict[str, dict[str, Any]]:
        out = {}
        for table in sorted(tables):
            t = self.run.tables[table]
            out[table] = {
                "reads": round(t.reads, 3),
                "writes": round(t.writes, 3),
                "reads_per_s": round(t.reads / self.seconds, 3) if self.seconds else None,
                "writes_per_s": round(t.writes / self.seconds, 3) if self.seconds else None,
            }
        return out

    def estimate(
        self,
        lookups: float,
        hits: float,
        invalidated: float,
        hit_requests: int,
        cost_ms: float,
        tables: Iterable[str],
    ) -> Estimate:
        rt = self.a.round_trip_ms
        writes = sum(self.run.tables[t].writes for t in tables)
        savings = hits * (cost_ms - rt) - (lookups - hits) * 2 * rt - writes * rt
        return Estimate(lookups, hits, invalidated, hit_requests, cost_ms, writes, savings)

    def verdict(self, e: Estimate) -> str | None:
        """Why it is not worth caching (cheap, written, rare, costly), or None."""
        if e.cost_ms < self.a.min_speedup * self.a.round_trip_ms:
            return "cheap"
        if e.hit_rate < self.a.min_hit_rate or e.hit_requests < 2:
            cold = e.lookups - e.hits - e.invalidated
            return "written" if e.invalidated and e.invalidated >= cold else "rare"
        return "costly" if e.savings_ms <= 0 else None

    def timeout_for(self, lookups: float) -> int:
        """The timeout to write: the default, or twice the mean gap between lookups if
        longer (a shorter one would expire entries before they are read again)."""
        gap = self.seconds / lookups if self.seconds and lookups else 0.0
        return max(self.a.timeout, 60 * math.ceil(2 * gap / 60))

    def model_of(self, sql: str) -> tuple[str, type[models.Model] | None]:
        """The label of what a query is about (its model, else its table), and the model."""
        table = main_table(sql)
        model = self.context.schema.model(table) if table else None
        return (model._meta.label if model is not None else (table or "a")), model

    def why_not(self, reason: str, e: Estimate, tables: Iterable[str], what: str) -> str:
        rt = self.a.round_trip_ms
        if reason == "cheap":
            return (
                f"{e.cost_ms:.2f} ms a {what}: too cheap to cache (a cache round trip costs "
                f"~{rt:g} ms; worth it from {self.a.min_speedup * rt:g} ms)"
            )
        if reason == "written":
            busy = sorted(tables, key=lambda t: -self.run.tables[t].writes)[:3]
            written = ", ".join(f"{t} written {self.rate(self.run.tables[t].writes)}" for t in busy)
            return (
                f"expected hit rate {e.hit_rate:.0%} ({written}): a cache would miss most "
                "of the time"
            )
        if reason == "rare":
            return (
                f"expected hit rate {e.hit_rate:.0%}: not repeated across requests often "
                f"enough ({e.lookups:g} lookup{'' if e.lookups == 1 else 's'})"
            )
        return (
            f"the lookups and invalidations would cost more than the hits save "
            f"({e.savings_ms:.1f} ms)"
        )

    # -- C002: pages ----------------------------------------------------------------------
    def pages(self, result: AnalyzerResult) -> set[str]:
        flagged: set[str] = set()
        notes: list[tuple[float, str]] = []
        for endpoint, page in sorted(self.run.pages.items()):
            weight = self.page_ms.get(endpoint, 0.0)
            e = self.estimate(
                page.lookups,
                page.hits,
                page.invalidated,
                page.hit_requests,
                self.mean_ms.get(endpoint, 0.0),
                page.tables,
            )
            why = _page_problem(page)
            if why is None and (reason := self.verdict(e)) is not None:
                why = self.why_not(reason, e, page.tables, "response")
            if why is not None:
                notes.append((weight, f"{endpoint}: no page cache: {why}"))
                continue
            flagged.add(endpoint)
            result.findings.append(self.page_finding(page, e))
        result.notes.extend(_capped(notes, "endpoints"))
        return flagged

    def page_finding(self, page: PageUse, e: Estimate) -> Finding:
        timeout = self.timeout_for(page.identical)
        location, view, is_class = _view_location(page.endpoint)
        code = (
            f'@method_decorator(cache_view(timeout={timeout}), name="dispatch")'
            if is_class
            else f"@cache_view(timeout={timeout})"
        )
        tables = ", ".join(sorted(page.tables)) or "no table"
        others = page.lookups - page.identical
        assumptions = [
            "requests of this route that run the same parameterless queries get the same "
            "page (query strings are not recorded)",
            "the response does not vary per user beyond its Vary headers",
            "cache_view stores only status-200 responses that set no cookie (a page with a "
            "CSRF-protected form sets one): see statuses",
        ]
        if others:
            assumptions.append(
                f"{others:g} requests with bound parameters (e.g. a signed-in viewer's "
                "session) count as misses"
            )
        return Finding(
            id="pareto.C002",
            title=f"Page cache for {page.endpoint}",
            message=(
                f"{page.endpoint} answered {page.lookups:g} requests that write nothing and "
                f"read {tables} (written {_times(e.writes)} in the run, "
                f"{self.rate(e.writes)}) with the same parameterless queries: a page cache "
                f"would answer an estimated {e.hit_rate:.0%} of them, {e.cost_ms:.1f} ms each, "
                f"saving {e.savings_ms:.1f} ms over the run "
                f"({e.savings_ms / page.lookups:.2f} ms per request). This holds for "
                "responses that do not vary per user: the decorator keys entries by URL and "
                "the response's Vary headers (a page that reads the session varies by "
                "Cookie: one entry per visitor), and the run does not record who was "
                "signed in."
            ),
            fix=Fix(
                f"Decorate {view or 'the view of ' + page.endpoint} with {code} "
                f"(from django_pareto.querycache import cache_view); it is {INVALIDATION}.",
                code=code,
                location=location,
            ),
            savings_ms=e.savings_ms,
            evidence={
                "endpoint": page.endpoint,
                "requests": page.requests,
                "lookups": round(page.lookups, 3),
                "hits": round(page.hits, 3),
                "hit_rate": round(e.hit_rate, 3),
                "identical_requests": round(page.identical, 3),
                "other_requests": {k: round(v, 3) for k, v in page.varying.items()},
                "statuses": dict(self.statuses.get(page.endpoint, {})),
                "mean_ms": round(e.cost_ms, 3),
                "round_trip_ms": self.a.round_trip_ms,
                "tables": self.traffic(page.tables),
                "run_seconds": round(self.seconds, 3),
                "savings_per_request_ms": round(e.savings_ms / page.lookups, 3),
                "savings_formula": SAVINGS_FORMULA.replace("mean ms", "mean response ms"),
                "assumptions": assumptions,
            },
            endpoints=(page.endpoint,),
            obj=page.endpoint,
        )

    # -- C001 and C003: queries -----------------------------------------------------------
    def queries(self, result: AnalyzerResult, pages: set[str]) -> None:
        flagged: dict[str, list[tuple[ReadUse, Estimate]]] = defaultdict(list)
        notes: dict[str, list[tuple[float, str]]] = defaultdict(list)
        written: dict[str, list[float]] = defaultdict(list)  # table -> hit rates of its reads
        unjudged: list[ReadUse] = []
        for use in self.run.reads.values():
            if use.identity == VOLATILE:
                where = f"{self.model_of(use.sql)[0]} query at {use.callsite}"
                why = f"{use.statement.why} (a cached answer would be wrong)"
                notes["volatile"].append((use.total_ms, f"{where}: never cached: {why}"))
                continue
            if not use.judged:
                unjudged.append(use)
                continue
            e = self.estimate(
                use.lookups,
                use.hits,
                use.invalidated,
                use.hit_requests,
                use.total_ms / use.calls if use.calls else 0.0,
                use.statement.tables,
            )
            reason = self.verdict(e)
            if reason == "written":
                worst = max(use.statement.tables, key=lambda t: self.run.tables[t].writes)
                written[worst].append(e.hit_rate)
            elif reason is not None:
                text = self.why_not(reason, e, use.statement.tables, "query")
                where = f"{self.model_of(use.sql)[0]} query at {use.callsite}"
                notes[reason].append((use.total_ms, f"{where}: not cached: {text}"))
            else:
                # One finding per place to change: the line that evaluates the queryset.
                flagged[use.callsite or use.fingerprint_id].append((use, e))
        for items in flagged.values():
            result.findings.append(self.query_finding(items, pages))
        for table, rates in sorted(written.items(), key=lambda kv: -self.run.tables[kv[0]].writes):
            traffic = self.run.tables[table]
            result.notes.append(
                f"{table}: written {self.rate(traffic.writes)}, read {self.rate(traffic.reads)}: "
                f"a cache would miss most of the time (expected hit rate {max(rates):.0%} "
                f"for the {_plural(len(rates), 'query', 'queries')} reading it): not cached"
            )
        for kind in ("volatile", "cheap", "costly", "rare"):
            result.notes.extend(_capped(notes[kind], f"{kind} queries"))
        if unjudged:
            top = max(unjudged, key=lambda u: u.total_ms)
            result.notes.append(
                f"{_plural(len(unjudged), 'query', 'queries')} with bound parameters not "
                "judged: parameter values are not recorded, so whether requests repeat them "
                "is unknown and they are assumed not to "
                f"({sum(u.total_ms for u in unjudged):.1f} ms of the run; the largest: "
                f"{self.model_of(top.sql)[0]} at {top.callsite}, {top.statement.why})"
            )

    def query_finding(self, items: list[tuple[ReadUse, Estimate]], pages: set[str]) -> Finding:
        items.sort(key=lambda item: -item[1].savings_ms)
        use, e = items[0]
        label, model = self.model_of(use.sql)
        savings = sum(est.savings_ms for _, est in items)
        lookups = sum(est.lookups for _, est in items)
        endpoints: dict[str, float] = defaultdict(float)
        for u, _ in items:
            for endpoint, n in u.endpoints.items():
                endpoints[endpoint] += n
        ranked = tuple(sorted(endpoints, key=lambda x: (-endpoints[x], x)))
        tables = use.statement.tables
        reads = sum(self.run.tables[t].reads for t in tables)
        where = use.callsite or "an unknown call site"
        location = use.callsite.split(" in ", 1)[0] if use.callsite else None
        timeout = self.timeout_for(lookups)
        queries = [self.query_evidence(u, est) for u, est in items]
        message = (
            f"{where} runs this {label} query in {use.requests} requests ({_short(ranked)}), "
            f"{e.cost_ms:.2f} ms each; {self.identity(use)[0]}, and its tables "
            f"({', '.join(tables)}) were written {_times(e.writes)} in the run "
            f"({self.rate(e.writes)}) against {reads:g} reads ({self.rate(reads)}): a cache "
            f"would answer an estimated {e.hit_rate:.0%} of its lookups, saving "
            f"{savings:.1f} ms over the run ({savings / lookups:.2f} ms per request that "
            "runs it)."
        )
        if len(items) > 1:
            message += f" The same line runs {len(items) - 1} more cacheable queries (evidence)."
        evidence: dict[str, Any] = {
            **queries[0],
            "callsite": use.callsite,
            "endpoints": list(ranked),
            "savings_per_request_ms": round(savings / lookups, 3),
            "savings_formula": SAVINGS_FORMULA,
            "run_seconds": round(self.seconds, 3),
            "page_cache": sorted(pages & set(ranked)),
            "queries": queries,
        }
        if use.template:
            return self.fragment_finding(use, label, message, evidence, timeout, savings, ranked)
        return Finding(
            id="pareto.C001",
            title=f"Cache the {label} query",
            message=message,
            fix=_queryset_fix(model, location, _read_by(items), timeout),
            savings_ms=savings,
            evidence=evidence,
            endpoints=ranked,
            obj=label,
        )

    def identity(self, use: ReadUse) -> tuple[str, str]:
        """(a clause for the message, the assumption for the evidence) about its identity."""
        if use.identity == FIXED:
            return "it binds no parameter", "binds no parameter: every execution is the same"
        if use.identity == PER_CALLSITE:
            return "it binds no parameter", (
                "binds no parameter; its LIMIT is a literal assumed to be the same at every "
                "execution from one line of code (a slice), so the cache key includes the "
                "call site"
            )
        assert use.identity == BOUNDED
        columns = ", ".join(f"{t}.{c}" for t, c in use.statement.columns)
        return f"its parameters can take {use.values} values at most ({columns})", (
            f"binds values compared with {columns}, which can hold {use.values} values at "
            "most (the model says so): after each write to its tables the first "
            f"{use.values} lookups count as misses, the rest as hits (the worst case)"
        )

    def query_evidence(self, use: ReadUse, e: Estimate) -> dict[str, Any]:
        return {
            "sql": use.sql,
            "identity": self.identity(use)[1],
            "requests": use.requests,
            "lookups": round(e.lookups, 3),
            "hits": round(e.hits, 3),
            "hit_rate": round(e.hit_rate, 3),
            "mean_ms": round(e.cost_ms, 3),
            "round_trip_ms": self.a.round_trip_ms,
            "savings_ms": round(e.savings_ms, 3),
            "tables": self.traffic(use.statement.tables),
            "repeats_within_requests": round(use.repeats, 3),
        }

    def fragment_finding(
        self,
        use: ReadUse,
        label: str,
        message: str,
        evidence: dict[str, Any],
        timeout: int,
        savings: float,
        endpoints: tuple[str, ...],
    ) -> Finding:
        location = (use.callsite or "").split(" in ", 1)[0]
        template, _, line = location.rpartition(":")
        name = f"{os.path.splitext(os.path.basename(template))[0]}-{line}"
        code = (
            f'{{% load pareto_cache %}}{{% cachefragment {timeout} "{name}" %}}'
            "...{% endcachefragment %}"
        )
        return Finding(
            id="pareto.C003",
            title=f"Fragment cache at {location}",
            message=message.replace(" in <template> runs ", " (a template line) runs ", 1)
            + " The rest of the page may differ per request; this part does not.",
            fix=Fix(
                f"In {template}, wrap the block that renders line {line} (e.g. the loop that "
                f'starts there) in {{% cachefragment {timeout} "{name}" %}}...'
                "{% endcachefragment %}, with {% load pareto_cache %} at the top; keep "
                "per-user or per-page content outside it. The fragment is "
                f"{INVALIDATION}; a hit also skips rendering that block (not counted).",
                code=code,
                location=location,
            ),
            savings_ms=savings,
            evidence=evidence,
            endpoints=endpoints,
            obj=label,
        )


def _read_by(items: list[tuple[ReadUse, Estimate]]) -> tuple[str, ...]:
    """Every table the queries of one line read: a write to any of them invalidates."""
    return tuple(sorted({t for use, _ in items for t in use.statement.tables}))


def _page_problem(page: PageUse) -> str | None:
    """Why a page cannot be judged for a page cache, or None."""
    if page.writing:
        return (
            f"{page.writing:g} of {page.lookups:g} requests write "
            f"({', '.join(sorted(page.written))}): a cached page would skip the writes"
        )
    if page.identical:
        return None
    why = max(page.varying, key=lambda k: page.varying[k])
    if why == "the route has URL parameters":
        return (
            "its route has URL parameters (one page per URL, and the run does not record "
            "URLs): not judged"
        )
    detail = "" if why == "bound parameters" else f", {why}"
    return (
        f"its queries bind parameters (per user or per URL, e.g. a session or an id{detail}), "
        "so whether two requests get the same page is unknown: assumed not"
    )


def _queryset_fix(
    model: type[models.Model] | None, location: str | None, tables: tuple[str, ...], timeout: int
) -> Fix:
    where = f"evaluated at {location}" if location else "that runs it"
    invalidated = f"invalidated automatically when {' or '.join(tables)} is written"
    if model is not None and _has_caching_manager(model):
        code = f".cache(timeout={timeout})"
        summary = (
            f"Add {code} to the {model.__name__} queryset {where} ({model.__name__}.objects "
            f"is a CachingManager); it is {invalidated}."
        )
    else:
        code = f"cached(queryset, timeout={timeout})"
        name = model.__name__ if model is not None else "its model"
        summary = (
            f"Wrap the queryset {where} in {code} (from django_pareto.querycache import "
            f"cached), or give {name} objects = CachingManager() and add "
            f".cache(timeout={timeout}); it is {invalidated}."
        )
    return Fix(summary, code=code, location=location)


def _has_caching_manager(model: type[models.Model]) -> bool:
    """Whether the model's default manager is django_pareto.querycache's CachingManager
    (looked up by name: the analysis does not import the runtime)."""
    manager = getattr(model, "_default_manager", None)
    return any(
        cls.__name__ == "CachingManager" and cls.__module__.startswith("django_pareto.querycache")
        for cls in type(manager).__mro__
    )


def _view_location(endpoint: str) -> tuple[str | None, str | None, bool]:
    """(file:line of the view's definition, its name, whether a class) of a static route."""
    route = endpoint.split(" ", 1)[-1]
    try:
        match = resolve(route if route.startswith("/") else "/" + route)
    except Resolver404:
        return None, None, False
    except Exception:  # the URLconf is the user's code: a failure only costs the location
        return None, None, False
    target: Any = getattr(match.func, "view_class", None) or inspect.unwrap(match.func)
    name = getattr(target, "__qualname__", None)
    try:
        filename = inspect.getsourcefile(target)
        line = inspect.getsourcelines(target)[1]
    except (OSError, TypeError):
        return None, name, False
    if filename is None:
        return None, name, False
    root = os.getcwd() + os.sep  # shown relative to the project, as call sites are
    shown = filename[len(root) :] if filename.startswith(root) else filename
    return f"{shown}:{line}", name, inspect.isclass(target)


def _capped(notes: list[tuple[float, str]], what: str) -> list[str]:
    ordered = [text for _, text in sorted(notes, key=lambda n: (-n[0], n[1]))]
    if len(ordered) <= MAX_NOTES:
        return ordered
    return [*ordered[:MAX_NOTES], f"... and {len(ordered) - MAX_NOTES} more {what}"]


def _times(n: float) -> str:
    return "once" if n == 1 else f"{n:g} times"


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _short(endpoints: tuple[str, ...]) -> str:
    if len(endpoints) <= 3:
        return ", ".join(endpoints)
    return f"{', '.join(endpoints[:3])} and {len(endpoints) - 3} more"
