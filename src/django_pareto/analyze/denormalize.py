"""``pareto.D001``: denormalize a many-to-many relation that grows without bound.

A list page that shows each article's tags reads them through ``blog_article_tags`` on
every request: a prefetch (``WHERE through.article_id IN (...)``), or one query per article
(an N+1, which ``pareto.N001`` reports), or a join in the list query itself
(``filter(tags__slug=...)``). A copy of the related ids (or of a few short fields) in a
column of the article, kept in sync by ``django_pareto.denorm``, removes the prefetch and
the per-row queries; the joins of list queries stay (or become filters by the copy).

For each relation read through its through table (``denormalize_sql`` says how each query
uses it), it is advised when, over the run:

- the through table has at least ``MIN_THROUGH_ROWS`` rows (the database's estimate), and
  at most ``MAX_FANOUT`` of them per parent on average;
- the queries through it take at least ``MIN_DB_SHARE`` of some endpoint's database time;
- it is read at least ``MIN_READS_PER_WRITE`` times per write;
- the estimated gain is positive: the time of the queries the copy removes, minus reading
  the copy instead (``COPY_READ_SHARE`` of that time), minus the writes the copy adds.

What the copy holds follows from the columns of the related table the reads select: the pk
only gives ids; a few short columns give ``fields=[...]``; more, or other kinds (long text,
JSON), give ids and a note (``denormalize_fix``). What was looked at and not advised is
in the notes, with why (a small table, a write-heavy one, a cold one).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, ClassVar

from django.db import DatabaseError, transaction

from django_pareto.analyze.base import Analyzer
from django_pareto.analyze.context import AnalysisContext
from django_pareto.analyze.denormalize_fix import Copy, build_fix, existing_mirror, what_to_store
from django_pareto.analyze.denormalize_run import Read, RelationUse, RunUse, Traffic, collect
from django_pareto.analyze.denormalize_sql import FILTER, JOIN, PER_ROW
from django_pareto.analyze.findings import AnalyzerResult, Finding
from django_pareto.backends import DatabaseBackend

# "Grows without bound": below this many rows the through table is a few hundred pages that
# stay cached, and a join through it costs a few index probes that a copy does not beat.
MIN_THROUGH_ROWS = 10_000
# A copy of more related rows per parent than this is a multi-kilobyte value read with
# every row and rewritten whole on every change (PostgreSQL moves values over ~2 kB out of
# line); the join is then the cheaper read.
MAX_FANOUT = 500
# Hot: the queries through the relation take at least this share of some endpoint's time
# in the database. Database time, not wall time: the database is the shared resource a
# copy relieves, and a list page's wall time is mostly building objects in Python (which
# the copy saves too, uncounted), while SQLite's drivers fetch rows after the timed call.
MIN_DB_SHARE = 0.2
# Each write to the relation makes the runtime re-read the parent's related rows and
# rewrite its copy (``WRITE_STATEMENTS``): with fewer reads than this per write, the reads
# saved barely pay for the writes added, before the lock on the parent row is counted.
MIN_READS_PER_WRITE = 5
WRITE_STATEMENTS = 2
# Reading the copy, as a share of the time of the queries it removes: a JSON list of 5 ids
# read and decoded with 200 parent rows against the prefetch of the same 1,000 rows,
# measured at 0.5 on SQLite 3.40 and 0.16 on PostgreSQL 15; with two short text fields
# per element 0.78 and 0.39. The larger (SQLite) figures are kept.
COPY_READ_SHARE = {"ids": 0.5, "fields": 0.8}
# When the reads select more of the related rows than the copy holds (a long text), they
# still load those rows, by pk: only the through table's half of the join goes.
PARTIAL_COPY_REMOVES = 0.5
# GinIndex and ArrayField are django.contrib.postgres's: only these vendors have them.
CONTRIB_POSTGRES_VENDORS = frozenset({"postgresql"})

SAVINGS_FORMULA = (
    "removed - removed x {share} (reading the copy) - {writes} x through-table write ms "
    "(the runtime re-reads and rewrites the copy){related}; removed = {part}the run's "
    "prefetches through the relation, plus one per-row query per request that loops (what "
    "is left after pareto.N001's prefetch); joins in list queries still run and are not "
    "counted"
)


class DenormalizeAnalyzer(Analyzer):
    name = "denormalize"
    ids = ("pareto.D001",)

    # Subclass and register the subclass in PARETO["ANALYZERS"] to change these.
    min_through_rows: ClassVar[int] = MIN_THROUGH_ROWS
    max_fanout: ClassVar[float] = MAX_FANOUT
    min_db_share: ClassVar[float] = MIN_DB_SHARE
    min_reads_per_write: ClassVar[float] = MIN_READS_PER_WRITE
    # A PostgreSQL array of pks (MirrorArrayField) rather than JSON, where ids suffice.
    prefer_array: ClassVar[bool] = False

    def analyze(self, context: AnalysisContext) -> AnalyzerResult:
        result = AnalyzerResult()
        if not context.request_queries:
            result.notes.append("no query detail recorded in this run (no sampled requests)")
            return result
        run = collect(context)
        if not run.relations:
            result.notes.append("no query read a many-to-many relation through its through table")
            return result
        judge = _Judge(self, context, run)
        for use in sorted(run.relations.values(), key=lambda u: u.relation.label):
            outcome = judge.relation(use)
            if isinstance(outcome, Finding):
                result.findings.append(outcome)
            elif outcome:
                result.notes.append(outcome)
        result.findings.sort(key=lambda f: (-f.savings_ms, f.id, f.title))
        return result


@dataclass(frozen=True)
class Sizes:
    through: int
    parents: int
    targets: int | None  # only asked when fields are copied (each related row's fan-in)

    @property
    def fanout(self) -> float:
        return self.through / max(self.parents, 1)

    @property
    def fan_in(self) -> float:
        return self.through / max(self.targets or 0, 1)


class _Judge:
    def __init__(self, analyzer: DenormalizeAnalyzer, context: AnalysisContext, run: RunUse):
        self.a = analyzer
        self.context = context
        self.run = run
        info = context.run
        self.seconds = max((info.last_request_end or 0.0) - (info.first_request_at or 0.0), 0.0)
        # An endpoint's database time on the same footing as the relation's: the queries of
        # its sampled requests, weighted. Its wall time: every request is recorded, sampled
        # or not, each standing for itself.
        self.db_ms: dict[str, float] = defaultdict(float)
        for row in context.request_queries:
            self.db_ms[row.endpoint] += row.total_ms * row.weight
        self.wall_ms: dict[str, float] = defaultdict(float)
        for request in context.requests:
            self.wall_ms[request.endpoint] += request.duration_ms

    def per_second(self, count: float) -> float | None:
        return round(count / self.seconds, 3) if self.seconds else None

    def rate(self, count: float) -> str:
        return f"{count / self.seconds:.1f}/s" if self.seconds else f"{count:g} in the run"

    def relation(self, use: RelationUse) -> Finding | str | None:
        rel = use.relation
        reads = use.forward
        if not reads:
            if not use.reverse.count:
                return None
            other = rel.target.__name__
            return (
                f"{rel.label}: read only from the {other} side ({use.reverse.count:g} "
                f"queries, e.g. {other}.objects.filter(...) through it or its prefetch): a "
                f"copy on {rel.model.__name__} does not serve those reads: not denormalized"
            )
        mirrored = existing_mirror(rel)
        if mirrored:
            sites = sorted({r.callsite or "an unknown call site" for r in reads})
            return (
                f"{rel.label}: copied already in {rel.model.__name__}.{mirrored}, yet read "
                f"through {rel.through_table} at {', '.join(sites)}: read the copy there"
            )
        alias = max(use.aliases, key=lambda a: (use.aliases[a], a))
        backend, why = self.context.backend(alias)
        if backend is None:
            return f"{rel.label}: {why}"
        copy = what_to_store(self.context.schema, rel, reads)
        try:
            # A savepoint: on PostgreSQL a failed statement (a table missing on this alias)
            # would otherwise break the transaction the analysis runs in.
            with transaction.atomic(using=alias):
                sizes = Sizes(
                    backend.row_count(rel.through_table),
                    backend.row_count(rel.table),
                    backend.row_count(rel.target_table) if copy.fields else None,
                )
        except DatabaseError as exc:
            return f"{rel.label}: no row counts on alias {alias}: {exc}".strip()
        judged = _Numbers(self, use, copy, sizes)
        reasons = judged.reasons()
        if reasons:
            return f"{rel.label}: not denormalized: {'; '.join(reasons)}"
        return self.finding(use, copy, sizes, judged, backend)

    def finding(
        self,
        use: RelationUse,
        copy: Copy,
        sizes: Sizes,
        n: _Numbers,
        backend: DatabaseBackend,
    ) -> Finding:
        rel = use.relation
        reads = use.forward
        filters = any(r.kind == FILTER for r in reads)
        contrib = backend.vendor in CONTRIB_POSTGRES_VENDORS
        copy = copy.with_options(
            gin=filters and contrib, array=self.a.prefer_array and contrib and not copy.fields
        )
        endpoints = tuple(sorted(n.endpoint_ms, key=lambda e: (-n.endpoint_ms[e], e)))
        top = n.hottest
        kinds = Counter(r.kind for r in reads)
        what = ", ".join(
            f"{count} {kind.replace('_', '-')}" for kind, count in sorted(kinds.items())
        )
        queries = _plural(len(reads), "query", "queries")
        holds = "ids" if not copy.fields else f"ids with {', '.join(copy.fields)}"
        message = (
            f"{rel.label} is read through {rel.through_table} ({sizes.through:,} rows, "
            f"{sizes.fanout:.1f} per {rel.model.__name__}) by {queries} ({what}) "
            f"that take {n.shares[top]:.0%} of the database time of {top}; the run read it "
            f"{n.reads:g} times and wrote it {n.writes:g} times. A copy of the related "
            f"{holds} in {rel.model.__name__}.{copy.name}, kept in sync by "
            f"django_pareto.denorm, removes {n.removed:.1f} ms of queries: an estimated "
            f"{n.savings:.1f} ms saved over the run."
        )
        if kinds[PER_ROW]:
            message += (
                " Its per-row queries are pareto.N001's to prefetch; after that the cost left "
                "is the join through the through table, which the copy removes."
            )
        evidence = self.evidence(use, copy, sizes, n, backend)
        return Finding(
            id="pareto.D001",
            title=f"Denormalize {rel.label} into {copy.name}",
            message=message,
            fix=build_fix(rel, copy, reads),
            savings_ms=n.savings,
            evidence=evidence,
            endpoints=endpoints,
            obj=rel.label,
        )

    def evidence(
        self, use: RelationUse, copy: Copy, sizes: Sizes, n: _Numbers, backend: DatabaseBackend
    ) -> dict[str, Any]:
        rel = use.relation
        through = self.run.writes.get(rel.through_table, Traffic())
        evidence: dict[str, Any] = {
            "relation": rel.label,
            "through_table": rel.through_table,
            "explicit_through": rel.explicit,
            "through_rows": sizes.through,
            "parent_table": rel.table,
            "parent_rows": sizes.parents,
            "fanout": round(sizes.fanout, 3),
            "alias": backend.alias,
            "queries": [_query_evidence(r) for r in use.forward],
            "reverse_queries": round(use.reverse.count, 3),
            "endpoints": {
                e: {
                    "relation_ms": round(n.endpoint_ms[e], 3),
                    "db_ms": round(self.db_ms.get(e, 0.0), 3),
                    "db_share": round(n.shares[e], 3),
                    "wall_ms": round(self.wall_ms.get(e, 0.0), 3),
                    "wall_share": round(n.endpoint_ms[e] / self.wall_ms[e], 3)
                    if self.wall_ms.get(e)
                    else None,
                }
                for e in sorted(n.endpoint_ms, key=lambda e: (-n.endpoint_ms[e], e))
            },
            "reads": round(n.reads, 3),
            "writes": round(n.writes, 3),
            "reads_per_s": self.per_second(n.reads),
            "writes_per_s": self.per_second(n.writes),
            "through_writes": round(through.count, 3),
            "store": "fields" if copy.fields else "ids",
            "fields": list(copy.fields),
            "selected_columns": list(copy.selected),
            "removed_ms": round(n.removed, 3),
            "copy_read_ms": round(n.copy_read, 3),
            "write_cost_ms": round(n.write_cost, 3),
            "savings_formula": n.formula,
            "not_counted": (
                "building the related model instances in Python, which reading the copy "
                "avoids (plain values): the estimate is low"
            ),
            "thresholds": {
                "min_through_rows": self.a.min_through_rows,
                "max_fanout": self.a.max_fanout,
                "min_db_share": self.a.min_db_share,
                "min_reads_per_write": self.a.min_reads_per_write,
            },
            "run_seconds": round(self.seconds, 3),
        }
        if copy.note:
            evidence["store_note"] = copy.note
        if copy.fields:
            evidence["target_rows"] = sizes.targets
            evidence["target_changes"] = round(n.target_writes.count, 3)
        if any(r.kind == PER_ROW for r in use.forward):
            evidence["nplusone"] = (
                "per-row queries through the relation are pareto.N001's to turn into one "
                "prefetch per request; counted here once per request, the cost left after it"
            )
        if any(r.kind in (FILTER, JOIN) for r in use.forward):
            evidence["list_queries"] = (
                "joins through the relation in list queries still run with a copy (a filter "
                "by it, on the parent table alone, measured no faster than the indexed join "
                "on SQLite 3.40 or PostgreSQL 15): not in removed_ms"
            )
        return evidence


class _Numbers:
    """The arithmetic of one relation: shares, reads and writes, the gain; and the verdict."""

    def __init__(self, judge: _Judge, use: RelationUse, copy: Copy, sizes: Sizes) -> None:
        self.judge = judge
        self.a = judge.a
        self.sizes = sizes
        reads = use.forward
        self.endpoint_ms: dict[str, float] = defaultdict(float)
        for read in reads:
            for endpoint, ms in read.endpoints.items():
                self.endpoint_ms[endpoint] += ms
        db = judge.db_ms
        self.shares = {e: (ms / db[e] if db.get(e) else 0.0) for e, ms in self.endpoint_ms.items()}
        self.hottest = max(self.shares, key=lambda e: (self.shares[e], e))
        self.reads = sum(r.reads for r in reads)
        through = judge.run.writes.get(use.relation.through_table, Traffic())
        # A copy of fields follows every change of a related row too (each rewrites the
        # copies of all the parents that hold it: the fan-in).
        changes = judge.run.changes.get(use.relation.target_table, Traffic())
        self.target_writes = changes if copy.fields else Traffic()
        self.writes = through.count + self.target_writes.count
        self.removed = sum(r.removed_ms for r in reads) * (PARTIAL_COPY_REMOVES if copy.note else 1)
        share = COPY_READ_SHARE["fields" if copy.fields else "ids"]
        self.copy_read = self.removed * share
        related = self.target_writes.ms * sizes.fan_in if copy.fields else 0.0
        self.write_cost = WRITE_STATEMENTS * through.ms + related
        self.savings = self.removed - self.copy_read - self.write_cost
        self.formula = SAVINGS_FORMULA.format(
            share=share,
            writes=WRITE_STATEMENTS,
            part=f"{PARTIAL_COPY_REMOVES} x " if copy.note else "",
            related=(
                " - related-table write ms x fan-in (each rewrites the copies holding it)"
                if copy.fields
                else ""
            ),
        )

    def reasons(self) -> list[str]:
        """Why not to advise it (empty: advise it)."""
        a, rel_rows = self.a, self.sizes.through
        found = []
        if rel_rows < a.min_through_rows:
            found.append(
                f"the through table has {rel_rows:,} rows (advised from "
                f"{a.min_through_rows:,}: below, the join reads a few cached pages)"
            )
        if self.sizes.fanout > a.max_fanout:
            found.append(
                f"{self.sizes.fanout:.0f} related rows per parent on average (advised up to "
                f"{a.max_fanout:g}: a copy that large is rewritten whole on every change)"
            )
        top = self.hottest
        if self.shares[top] < a.min_db_share:
            found.append(
                f"its queries take at most {self.shares[top]:.0%} of an endpoint's database "
                f"time ({top}; advised from {a.min_db_share:.0%})"
            )
        if self.writes and self.reads < a.min_reads_per_write * self.writes:
            found.append(
                f"written {self.writes:g} times ({self.judge.rate(self.writes)}) against "
                f"{self.reads:g} reads ({self.judge.rate(self.reads)}): a copy moves cost to "
                f"the writes; advised from {a.min_reads_per_write:g} reads per write"
            )
        if not self.removed:
            found.append(
                "it is only joined in list queries (filters, counts), which still run with a "
                "copy: nothing to remove"
            )
        elif not found and self.savings <= 0:
            found.append(
                f"the copy would cost more than it saves ({self.savings:.1f} ms: reading it "
                f"{self.copy_read:.1f} ms, the writes it adds {self.write_cost:.1f} ms)"
            )
        return found


def _query_evidence(read: Read) -> dict[str, Any]:
    return {
        "kind": read.kind,
        "sql": read.sql,
        "callsite": read.callsite,
        "requests": round(read.requests, 3),
        "executions": round(read.executions, 3),
        "total_ms": round(read.total_ms, 3),
        "removed_ms": round(read.removed_ms, 3),
        "columns": list(read.columns),
        "endpoints": sorted(read.endpoints, key=lambda e: (-read.endpoints[e], e)),
    }


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"
