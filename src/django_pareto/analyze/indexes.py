"""I001 missing index: the columns a run's queries filter and sort on, verified by the database.

For each fingerprint, per table: equality (and IN) columns first, then the ORDER BY of a
``LIMIT`` query (with its directions), then one range column, and ``UPPER(col)`` where the
ORM compiles a lookup to a function. A condition the SQL spells out (``"flag"``, ``IS NULL``)
that matches few rows gets a partial index instead, keyed on the rest (``partial_indexes``).
A candidate is dropped when an existing index serves it, when the table is small, or when
its columns match too many rows; what is left is verified (HypoPG on PostgreSQL, a real index
on a scratch copy on SQLite) before it is advised, partial candidates first: a query a
partial index serves is not counted again for a full one.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from django_pareto.analyze import partial_indexes as partial
from django_pareto.analyze.base import Analyzer
from django_pareto.analyze.context import AnalysisContext
from django_pareto.analyze.findings import AnalyzerResult, Finding, Fix, IndexSpec
from django_pareto.analyze.partial_indexes import MAX_PARTIAL_FRACTION
from django_pareto.analyze.schema import SchemaMap
from django_pareto.analyze.sqlparse import (
    IS_NULL,
    ParsedQuery,
    Predicate,
    TableUse,
    executable,
    parse,
)
from django_pareto.backends import DatabaseBackend

# Below this many rows a scan reads a few pages: as cheap as an index probe, and the index
# would only cost writes (the usual advisors' floor is in the hundreds to thousands).
MIN_TABLE_ROWS = 1_000
# An equality column whose typical value matches more than this share of the rows does not
# narrow a search: PostgreSQL's planner prefers a scan well before 20% of rows.
MAX_MATCH_FRACTION = 0.2
# The plan with the index must cost at most half: smaller gains do not repay the index's
# upkeep on every write (dexter advises at 50% lower cost too).
MIN_IMPROVEMENT = 2.0
FUNCTION_EXPRESSIONS = {"UPPER": "Upper", "LOWER": "Lower"}


@dataclass(frozen=True)
class Candidate:
    table: str
    columns: tuple[str, ...]  # plain columns, in index order
    descending: tuple[bool, ...]
    functions: tuple[tuple[str, str], ...] = ()  # (FUNC, column), before the columns
    equality: int = 0  # how many leading columns are equality (or IN) columns
    fractions: tuple[tuple[str, float], ...] = field(default=(), compare=False)
    condition: Predicate | None = None  # a partial index: WHERE this
    share: float | None = field(default=None, compare=False)  # of rows the condition matches

    @property
    def label(self) -> str:
        parts = [f"{f}({c})" for f, c in self.functions]
        parts += [
            f"{c} DESC" if d else c for c, d in zip(self.columns, self.descending, strict=True)
        ]
        where = f" WHERE {self.condition.label}" if self.condition else ""
        return f"{self.table} ({', '.join(parts)}){where}"


@dataclass
class Usage:
    """The query groups one candidate would speed up, each with its parsed SQL."""

    entries: list[tuple[Any, ParsedQuery]] = field(default_factory=list)  # (QueryGroupRow, _)

    @property
    def groups(self) -> list[Any]:
        return [group for group, _ in self.entries]

    @property
    def total_ms(self) -> float:
        return float(sum(g.total_ms for g in self.groups))

    @property
    def heaviest(self) -> ParsedQuery:
        """The query planned to verify the candidate: the one that costs the run most."""
        return max(self.entries, key=lambda e: float(e[0].total_ms))[1]


@dataclass
class Asked:
    """What one analysis has asked the databases already (screening is per alias)."""

    full: dict[tuple[str, Candidate], Candidate | None] = field(default_factory=dict)
    # the partial candidate worth verifying, and whether an existing index serves it
    partial: dict[tuple[str, Candidate], tuple[Candidate | None, bool]] = field(
        default_factory=dict
    )
    booleans: dict[tuple[str, str, str], str | None] = field(default_factory=dict)


def index_name(table: str, parts: tuple[str, ...], where: str = "") -> str:
    """A stable name of at most 30 characters (Django's limit), like Django's own."""
    key = f"{table}:{parts}" + (f" WHERE {where}" if where else "")
    digest = hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()[:6]
    stem = "_".join(p.lower() for p in parts)
    # 11 + 1 + 7 + 1 + 6 + 4 = 30, the shape of Django's own generated names.
    return f"{table[:11]}_{stem[:7]}_{digest}_idx"


def aliases_of(context: AnalysisContext) -> dict[str, str]:
    """Fingerprint id -> the Django alias its executions ran on (the first seen)."""
    found: dict[str, str] = {}
    for row in context.request_queries:
        found.setdefault(row.fingerprint_id, row.alias)
    return found


def build_spec(
    schema: SchemaMap, backend: DatabaseBackend, table: str, name: str, candidate: Candidate
) -> IndexSpec:
    qn = backend.connection.ops.quote_name
    model = schema.model(table)
    names = []
    for column in [c for _, c in candidate.functions] + list(candidate.columns):
        f = schema.field(table, column)
        names.append(f.name if f is not None else column)
    functions = names[: len(candidate.functions)]
    plain = names[len(candidate.functions) :]
    sql_parts = [f"{func}({qn(c)})" for (func, c) in candidate.functions]
    sql_parts += [
        f"{qn(c)} DESC" if d else qn(c)
        for c, d in zip(candidate.columns, candidate.descending, strict=True)
    ]
    fields: tuple[str, ...] = ()
    expressions: tuple[str, ...] = ()
    if candidate.functions:  # Django's Index takes fields or expressions, not both
        expressions = tuple(
            f'{FUNCTION_EXPRESSIONS.get(func, func.title())}("{n}")'
            for (func, _), n in zip(candidate.functions, functions, strict=True)
        ) + tuple(
            f'F("{n}").desc()' if d else f'F("{n}")'
            for n, d in zip(plain, candidate.descending, strict=True)
        )
    else:
        fields = tuple(
            f"-{n}" if d else n for n, d in zip(plain, candidate.descending, strict=True)
        )
    sql = f"CREATE INDEX {qn(name)} ON {qn(table)} ({', '.join(sql_parts)})"
    condition = None
    if candidate.condition is not None:
        condition = partial.condition_q(schema, table, candidate.condition)
        django_sql = partial.create_sql(backend, schema, table, name, fields, candidate.condition)
        sql = django_sql or f"{sql} WHERE {candidate.condition.sql(qn)}"
    return IndexSpec(
        app_label=model._meta.app_label if model else "",
        model=model.__name__ if model else "",
        table=table,
        name=name,
        fields=fields,
        columns=tuple(c for _, c in candidate.functions) + candidate.columns,
        expressions=expressions,
        condition=condition,
        sql=sql,
    )


class MissingIndexAnalyzer(Analyzer):
    name = "indexes"
    ids = ("pareto.I001",)

    def analyze(self, context: AnalysisContext) -> AnalyzerResult:
        result = AnalyzerResult()
        aliases = aliases_of(context)
        notes: set[str] = set()
        asked = Asked()
        full: dict[tuple[str, Candidate], Usage] = defaultdict(Usage)
        rare: dict[tuple[str, Candidate], Usage] = defaultdict(Usage)
        # (query group, table) pairs an index serves already: one that exists, or a partial
        # one advised here. A full candidate does not count them (nor their time) again.
        served: set[tuple[Any, str]] = set()
        for group in context.query_groups:
            alias = aliases.get(group.fingerprint_id, "default")
            backend, problem = context.backend(alias)
            if problem and problem not in result.notes:
                result.notes.append(problem)
            parsed = parse(group.sql)
            if backend is None or parsed.error or parsed.kind not in ("select", "update", "delete"):
                continue
            for use in parsed.tables.values():
                raw = self.candidate(parsed, use, backend)
                if raw is not None:
                    if (alias, raw) not in asked.full:
                        asked.full[(alias, raw)] = self.screen(backend, raw, notes)
                    candidate = asked.full[(alias, raw)]
                    if candidate is not None:
                        full[(alias, candidate)].entries.append((group, parsed))
                best, exists = self.partial(context.schema, parsed, use, backend, notes, asked)
                if exists:
                    served.add((group, use.table))
                elif best is not None:
                    rare[(alias, best)].entries.append((group, parsed))
        for usages in (rare, full):
            for (alias, candidate), usage in sorted(usages.items(), key=lambda kv: -kv[1].total_ms):
                left = Usage([e for e in usage.entries if (e[0], candidate.table) not in served])
                if not left.entries:
                    continue
                backend = context.backend(alias)[0]
                assert backend is not None
                finding = self.evaluate(context, backend, candidate, left, notes)
                if finding is not None:
                    result.findings.append(finding)
                    if candidate.condition is not None:
                        served.update((g, candidate.table) for g in left.groups)
        result.findings.sort(key=lambda f: -f.savings_ms)
        result.notes.extend(sorted(notes))
        return result

    # -- candidates -----------------------------------------------------------------------
    def candidate(
        self, parsed: ParsedQuery, use: TableUse, backend: DatabaseBackend
    ) -> Candidate | None:
        columns: list[str] = []
        descending: list[bool] = []
        for column in use.equality + use.in_list:
            if column not in columns:
                columns.append(column)
                descending.append(False)
        functions = tuple(
            (func, col)
            for func, col in use.functions
            if func in FUNCTION_EXPRESSIONS and backend.supports_expression_indexes
        )
        # ORDER BY serves a LIMIT only when every sort column is on this table.
        sorts_here = all(not t.order_by for t in parsed.tables.values() if t is not use)
        order_by = use.order_by
        if columns and [c for c, _ in order_by] == list(backend.primary_key(use.table)):
            # .first() and .get() sort by pk: rows matching an equality are few and every
            # index entry ends with the row id (SQLite's rowid), so the sort is not worth a column.
            order_by = []
        if parsed.has_limit and order_by and sorts_here:
            for column, desc in order_by:
                if column not in columns:
                    columns.append(column)
                    descending.append(desc)
        if use.range and use.range[0] not in columns:
            columns.append(use.range[0])
            descending.append(False)
        if not columns and not functions:
            return None
        equality = len(set(use.equality + use.in_list))
        return Candidate(use.table, tuple(columns), tuple(descending), functions, equality)

    def screen(
        self, backend: DatabaseBackend, candidate: Candidate, notes: set[str]
    ) -> Candidate | None:
        """The candidate worth verifying, or ``None`` (with a note saying why)."""
        table = candidate.table
        if not backend.table_exists(table):
            return None
        rows = backend.row_count(table)
        if rows < MIN_TABLE_ROWS:
            notes.add(f"{candidate.label}: not indexed: the table has {rows} rows")
            return None
        narrowed = self._narrow(backend, candidate, notes)
        if narrowed is None or narrowed.functions:
            return narrowed
        equality = set(narrowed.columns[: narrowed.equality])
        for index in backend.indexes(table):
            unique_hit = (
                index.unique and index.serves(index.columns) and set(index.columns) <= equality
            )
            if unique_hit or index.serves(narrowed.columns, narrowed.descending):
                notes.add(f"{narrowed.label}: served by {index.name}")
                return None
        return narrowed

    def _narrow(
        self, backend: DatabaseBackend, candidate: Candidate, notes: set[str]
    ) -> Candidate | None:
        """Drop equality columns that match too many rows (low selectivity)."""
        fractions: dict[str, float] = {}
        keep_columns, keep_desc = [], []
        equality = candidate.equality
        for position, (column, desc) in enumerate(
            zip(candidate.columns, candidate.descending, strict=True)
        ):
            keep_columns.append(column)
            keep_desc.append(desc)
            if position >= candidate.equality:
                continue  # a sort or range column orders or bounds the scan: always kept
            fraction = backend.match_fraction(candidate.table, column)
            if fraction is not None:
                fractions[column] = round(fraction, 4)
            if fraction is not None and fraction > MAX_MATCH_FRACTION:
                notes.add(
                    f"{candidate.table} ({column}): not indexed alone: a typical value matches "
                    f"{fraction:.0%} of rows (more than {MAX_MATCH_FRACTION:.0%})"
                )
                equality -= 1
                keep_columns.pop()
                keep_desc.pop()
        if not keep_columns and not candidate.functions:
            return None
        return Candidate(
            candidate.table,
            tuple(keep_columns),
            tuple(keep_desc),
            candidate.functions,
            equality,
            tuple(sorted(fractions.items())),
        )

    # -- partial candidates -----------------------------------------------------------------
    def partial(
        self,
        schema: SchemaMap,
        parsed: ParsedQuery,
        use: TableUse,
        backend: DatabaseBackend,
        notes: set[str],
        asked: Asked,
    ) -> tuple[Candidate | None, bool]:
        """The partial index on the use's rarest written-out condition, and whether an index
        that exists serves one of its conditions already."""
        found: list[Candidate] = []
        exists = False
        for predicate in use.predicates:
            column = schema.field(use.table, predicate.column)
            if predicate.kind == IS_NULL and column is not None and not column.null:
                continue  # matches no row by the schema: nothing for an index to find
            raw = self.partial_candidate(parsed, use, predicate, backend)
            if (backend.alias, raw) not in asked.partial:
                asked.partial[(backend.alias, raw)] = self.screen_partial(backend, raw, notes)
            candidate, served = asked.partial[(backend.alias, raw)]
            exists = exists or served
            if candidate is not None:
                found.append(candidate)
        notes.update(
            partial.parameter_note(backend, schema, parsed, use, MIN_TABLE_ROWS, asked.booleans)
        )
        if exists or not found:
            return None, exists
        return min(found, key=lambda c: c.share or 0.0), False

    def partial_candidate(
        self, parsed: ParsedQuery, use: TableUse, predicate: Predicate, backend: DatabaseBackend
    ) -> Candidate:
        """Keyed like a full candidate on what the query does besides the condition; on its
        ORDER BY (with or without LIMIT) when the condition is its only filter. No key at all
        means the primary key, filled in by ``screen_partial``."""
        keyed = partial.key_use(use, predicate)
        base = self.candidate(parsed, keyed, backend)
        columns, descending, equality = (
            (base.columns, base.descending, base.equality) if base else ((), (), 0)
        )
        if not columns:
            sort = partial.sort_columns(parsed, use)
            columns = tuple(c for c, _ in sort)
            descending = tuple(d for _, d in sort)
        return Candidate(use.table, columns, descending, (), equality, condition=predicate)

    def screen_partial(
        self, backend: DatabaseBackend, raw: Candidate, notes: set[str]
    ) -> tuple[Candidate | None, bool]:
        """The partial candidate worth verifying (or ``None``, with a note saying why), and
        whether an existing index serves it."""
        table, condition = raw.table, raw.condition
        assert condition is not None
        if not backend.table_exists(table):
            return None, False
        rows = backend.row_count(table)
        where = f"{table} WHERE {condition.label}"  # the key is not known yet
        if rows < MIN_TABLE_ROWS:
            notes.add(f"{where}: no partial index: the table has {rows} rows")
            return None, False
        share = backend.predicate_fraction(table, condition)
        if share is None:
            notes.add(f"{where}: no partial index: no statistics for {condition.column}")
            return None, False
        if share > MAX_PARTIAL_FRACTION:
            notes.add(
                f"{where}: no partial index: it matches {share:.0%} of rows "
                f"(more than {MAX_PARTIAL_FRACTION:.0%})"
            )
            return None, False
        candidate = self._narrow(backend, raw, notes) if raw.columns else None
        fallback = candidate is None  # no key but the condition: the primary key
        if candidate is None:
            key = backend.primary_key(table)
            if not key:
                return None, False
            candidate = Candidate(table, key, (False,) * len(key))
        candidate = replace(candidate, condition=condition, share=round(share, 4))
        name = partial.served_by(
            backend,
            condition,
            candidate.columns,
            candidate.descending,
            candidate.equality,
            table,
            fallback=fallback,
        )
        if name is not None:
            notes.add(f"{candidate.label}: served by {name}")
            return None, True
        return candidate, False

    # -- verification ---------------------------------------------------------------------
    def evaluate(
        self,
        context: AnalysisContext,
        backend: DatabaseBackend,
        candidate: Candidate,
        usage: Usage,
        notes: set[str],
    ) -> Finding | None:
        table = candidate.table
        rows = backend.row_count(table)
        parsed = usage.heaviest
        name = index_name(
            table,
            tuple(f"{f}_{c}" for f, c in candidate.functions) + candidate.columns,
            candidate.condition.label if candidate.condition else "",
        )
        spec = build_spec(context.schema, backend, table, name, candidate)
        binding = backend.bind(parsed)
        if binding.problem:
            notes.add(f"{candidate.label}: not verified: {binding.problem}")
            return None
        plans = backend.compare(executable_sql(parsed), binding.params, table, spec.sql)
        if plans is None:
            notes.add(f"{candidate.label}: not verified: the database could not plan it")
            return None
        before, after = plans
        used = any(name in i or i.startswith("<") for i in after.indexes)
        ratio = before.cost / after.cost if after.cost > 0 else float("inf")
        if not used or ratio < MIN_IMPROVEMENT:
            notes.add(
                f"{candidate.label}: not indexed: the plan with it is {ratio:.1f}x cheaper "
                f"(needs {MIN_IMPROVEMENT:.0f}x and the index used)"
            )
            return None
        gain = 1 - 1 / ratio
        per_endpoint: dict[str, float] = defaultdict(float)
        for group in usage.groups:
            per_endpoint[group.endpoint] += group.total_ms * gain
        endpoints = sorted(per_endpoint, key=lambda e: -per_endpoint[e])
        unit = "ms (measured on a scratch copy)" if before.measured else "planner cost units"
        kind, share = "index", ""
        if candidate.condition is not None:
            kind = "partial index"
            share = f" (the condition matches {candidate.share:.1%} of them)"
        return Finding(
            id="pareto.I001",
            title=f"Missing {kind} on {candidate.label}",
            message=(
                f"{len(usage.groups)} query group(s) filter or sort {candidate.label} over "
                f"{rows} rows{share}; with the {kind} the plan is {ratio:.1f}x cheaper."
            ),
            fix=Fix(
                summary=f"Add {'an' if kind[0] in 'aeiou' else 'a'} {kind} on {candidate.label}.",
                code=_meta_code(spec),
                add_index=spec,
            ),
            savings_ms=sum(per_endpoint.values()),
            evidence={
                "alias": backend.alias,
                "table_rows": rows,
                "match_fractions": dict(candidate.fractions),
                "condition": None
                if candidate.condition is None
                else {
                    "where": candidate.condition.label,
                    "q": spec.condition,
                    "matches_fraction": candidate.share,
                },
                "cost_before": before.cost,
                "cost_after": after.cost,
                "cost_unit": unit,
                "improvement": round(ratio, 2),
                "plan_before": before.text,
                "plan_after": after.text,
                "verified_with": "HypoPG"
                if backend.supports_hypothetical_indexes
                else "scratch copy",
                "parameters": "each %s bound to the value of a middle row of its column",
                "queries": sorted({g.sql for g in usage.groups}),
                "endpoints": [
                    {"endpoint": e, "savings_ms": round(per_endpoint[e], 3)} for e in endpoints
                ],
                "thresholds": {
                    "min_table_rows": MIN_TABLE_ROWS,
                    "max_match_fraction": MAX_MATCH_FRACTION,
                    "max_partial_fraction": MAX_PARTIAL_FRACTION,
                    "min_improvement": MIN_IMPROVEMENT,
                },
            },
            endpoints=tuple(endpoints),
            obj=candidate.label,
        )


def executable_sql(parsed: ParsedQuery) -> str:
    return executable(parsed.sql)


def _meta_code(spec: IndexSpec) -> str:
    condition = f", condition={spec.condition}" if spec.condition else ""
    if spec.expressions:
        return f'models.Index({", ".join(spec.expressions)}{condition}, name="{spec.name}")'
    return f"models.Index(fields={list(spec.fields)!r}{condition}, name={spec.name!r})"
