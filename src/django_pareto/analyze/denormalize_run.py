"""What a run did with each many-to-many relation: its reads by kind, and table writes.

Per request, in execution order: the writes first (a read from the line that then writes
the same through table belongs to the write), then every SELECT that touches a through
table, classified by ``denormalize_sql``. Times and counts are weighted by sampling.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django_pareto.analyze.context import AnalysisContext
from django_pareto.analyze.denormalize_sql import (
    PER_ROW,
    PREFETCH,
    REVERSE,
    ManyToMany,
    relation_of,
    uses,
)
from django_pareto.analyze.nplusone_trace import is_select
from django_pareto.analyze.sqlparse import parse
from django_pareto.store.records import RequestQueryRow


@dataclass
class Read:
    """The executions of one query (fingerprint, call site) that use the relation one way."""

    kind: str
    sql: str
    callsite: str | None
    columns: tuple[str, ...]  # of the related table, selected
    counts: bool
    requests: float = 0.0  # weighted
    executions: float = 0.0  # weighted
    total_ms: float = 0.0  # weighted
    endpoints: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def removed_ms(self) -> float:
        """What a copy takes away: a prefetch whole; a per-row read once per request (a
        loop of them is pareto.N001's to turn into one prefetch, which the copy removes)."""
        if self.kind == PREFETCH:
            return self.total_ms
        if self.kind == PER_ROW:
            return self.total_ms / self.executions * self.requests if self.executions else 0.0
        return 0.0

    @property
    def reads(self) -> float:
        """Reads of the relation, counting a loop of per-row queries once per request."""
        return self.requests if self.kind == PER_ROW else self.executions


@dataclass
class Traffic:
    count: float = 0.0  # weighted executions
    ms: float = 0.0


@dataclass
class RelationUse:
    relation: ManyToMany
    reads: dict[tuple[str, str | None, str], Read] = field(default_factory=dict)
    reverse: Traffic = field(default_factory=Traffic)
    aliases: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # read ms

    @property
    def forward(self) -> list[Read]:
        return sorted(self.reads.values(), key=lambda r: (-r.total_ms, r.kind, r.sql))


@dataclass
class RunUse:
    relations: dict[ManyToMany, RelationUse] = field(default_factory=dict)
    writes: dict[str, Traffic] = field(default_factory=lambda: defaultdict(Traffic))
    # UPDATE and DELETE only: what changes rows a copy of fields holds (an INSERT does not)
    changes: dict[str, Traffic] = field(default_factory=lambda: defaultdict(Traffic))


def collect(context: AnalysisContext) -> RunUse:
    """Per relation, how the run read it; per table, how often the run wrote it."""
    by_request: dict[int, list[RequestQueryRow]] = defaultdict(list)
    for row in context.request_queries:
        by_request[row.request_id].append(row)
    found = RunUse()
    for rows in by_request.values():
        # .set(), .add() and .remove() read the current rows before they write: those reads
        # belong to the write (same call site, same through table), not to a read path.
        writing: set[tuple[str, str | None]] = set()
        for row in rows:
            if is_select(row.sql):
                continue
            parsed = parse(row.sql)
            if parsed.target:
                tallies = [found.writes[parsed.target]]
                if parsed.kind in ("update", "delete"):
                    tallies.append(found.changes[parsed.target])
                for tally in tallies:
                    tally.count += row.calls * row.weight
                    tally.ms += row.total_ms * row.weight
                writing.add((parsed.target, row.callsite))
        for row in rows:
            if is_select(row.sql):
                _add_reads(context, row, writing, found.relations)
    return found


def _add_reads(
    context: AnalysisContext,
    row: RequestQueryRow,
    writing: set[tuple[str, str | None]],
    relations: dict[ManyToMany, RelationUse],
) -> None:
    for table in row.tables:
        relation = relation_of(context.schema, table)
        if relation is None or (table, row.callsite) in writing:
            continue
        use = relations.get(relation)
        if use is None:
            use = relations[relation] = RelationUse(relation)
        kinds: set[str] = set()
        for how in uses(row.sql, relation):
            if how.kind in kinds:
                continue  # one statement, two scopes the same way (a subquery): once
            kinds.add(how.kind)
            if how.kind == REVERSE:
                use.reverse.count += row.calls * row.weight
                use.reverse.ms += row.total_ms * row.weight
                continue
            key = (row.fingerprint_id, row.callsite, how.kind)
            read = use.reads.get(key)
            if read is None:
                read = use.reads[key] = Read(
                    how.kind, row.sql, row.callsite, how.columns, how.counts
                )
            read.requests += row.weight
            read.executions += row.calls * row.weight
            read.total_ms += row.total_ms * row.weight
            read.endpoints[row.endpoint] += row.total_ms * row.weight
            use.aliases[row.alias] += row.total_ms * row.weight
