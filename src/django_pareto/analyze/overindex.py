"""X001 redundant and X002 unused indexes: every index is paid for on each write.

X001: an index with the same definition as another, or whose columns lead another plain
B-tree (the longer one serves every lookup the shorter one does). X002: on a write-heavy
table (the run writes it more often than it reads it), an index no captured query's plan
uses and, on PostgreSQL, that ``pg_stat_user_indexes`` never saw scanned.

Never flagged: primary keys, unique indexes (they enforce a constraint), and the only index
led by a foreign-key column (deleting a parent row looks its children up by it).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db import models

from django_pareto.analyze.base import Analyzer
from django_pareto.analyze.context import AnalysisContext
from django_pareto.analyze.findings import AnalyzerResult, Finding, Fix, IndexSpec
from django_pareto.analyze.indexes import aliases_of
from django_pareto.analyze.sqlparse import executable, parse
from django_pareto.backends import DatabaseBackend, ExistingIndex


@dataclass
class TableTraffic:
    reads: float = 0.0
    writes: float = 0.0
    write_ms: float = 0.0
    write_endpoints: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    fingerprints: dict[str, str] = field(default_factory=dict)  # id -> sql (reads and writes)

    @property
    def write_heavy(self) -> bool:
        return self.writes > 0 and (self.reads == 0 or self.writes > self.reads)


def _is_foreign_key(context: AnalysisContext, table: str, column: str) -> bool:
    f = context.schema.field(table, column)
    return f is not None and f.is_relation and bool(f.many_to_one or f.one_to_one)


def _protected(
    context: AnalysisContext, index: ExistingIndex, indexes: list[ExistingIndex]
) -> str | None:
    """Why an index must not be flagged, or ``None``."""
    if index.primary_key:
        return "primary key"
    if index.unique:
        return "enforces a unique constraint"
    if index.columns and _is_foreign_key(context, index.table, index.columns[0]):
        led = [i for i in indexes if i.columns[:1] == index.columns[:1] and i is not index]
        if not any(not i.partial and not i.expressions for i in led):
            return f"the only index led by foreign key {index.columns[0]}"
    return None


def _remove_spec(
    context: AnalysisContext, backend: DatabaseBackend, index: ExistingIndex
) -> IndexSpec:
    model = context.schema.model(index.table)
    fields = []
    for column, order in zip(
        index.columns, index.orders or ("ASC",) * len(index.columns), strict=False
    ):
        f = context.schema.field(index.table, column)
        name = f.name if f is not None else column
        fields.append(f"-{name}" if order == "DESC" else name)
    return IndexSpec(
        app_label=model._meta.app_label if model else "",
        model=model.__name__ if model else "",
        table=index.table,
        name=index.name,
        fields=tuple(fields),
        columns=index.columns,
        sql=f"DROP INDEX {backend.connection.ops.quote_name(index.name)}",
    )


def _how_to_remove(context: AnalysisContext, index: ExistingIndex) -> tuple[str, str | None]:
    """The model change that drops the index: Meta.indexes entry or a field's db_index."""
    model = context.schema.model(index.table)
    if model is None:
        return f"Drop index {index.name} on {index.table}.", None
    declared = {i.name for i in model._meta.indexes}
    if index.name in declared:
        return (
            f"Remove models.Index(name={index.name!r}) from {model.__name__}.Meta.indexes.",
            None,
        )
    if len(index.columns) == 1:
        f = context.schema.field(index.table, index.columns[0])
        if isinstance(f, models.Field) and getattr(f, "db_index", False):
            return (
                f"Set db_index=False on {model.__name__}.{f.name}.",
                f"{f.name} = ...(db_index=False)",
            )
    return f"Drop index {index.name} (a migration with RemoveIndex or RunSQL).", None


class OverIndexAnalyzer(Analyzer):
    name = "overindex"
    ids = ("pareto.X001", "pareto.X002")

    def analyze(self, context: AnalysisContext) -> AnalyzerResult:
        result = AnalyzerResult()
        aliases = aliases_of(context)
        traffic: dict[tuple[str, str], TableTraffic] = defaultdict(TableTraffic)
        for group in context.query_groups:
            alias = aliases.get(group.fingerprint_id, "default")
            parsed = parse(group.sql)
            if parsed.kind in ("insert", "update", "delete") and parsed.target:
                entry = traffic[(alias, parsed.target)]
                entry.writes += group.calls
                entry.write_ms += group.total_ms
                entry.write_endpoints[group.endpoint] += group.total_ms
                entry.fingerprints[group.fingerprint_id] = group.sql
                tables = [t for t in group.tables if t != parsed.target]
            else:
                tables = list(group.tables)
            for table in tables:
                entry = traffic[(alias, table)]
                entry.reads += group.calls
                entry.fingerprints[group.fingerprint_id] = group.sql
        for (alias, table), usage in sorted(traffic.items()):
            backend, problem = context.backend(alias)
            if problem and problem not in result.notes:
                result.notes.append(problem)
            if backend is None or not backend.table_exists(table):
                continue
            self.table(context, backend, table, usage, result)
        result.findings.sort(key=lambda f: -f.savings_ms)
        return result

    def table(
        self,
        context: AnalysisContext,
        backend: DatabaseBackend,
        table: str,
        usage: TableTraffic,
        result: AnalyzerResult,
    ) -> None:
        indexes = backend.indexes(table)
        flagged: set[str] = set()
        for index in indexes:
            shadow = self._redundant_with(index, indexes)
            why = _protected(context, index, indexes)
            if shadow is None:
                continue
            if why is not None:
                result.notes.append(f"{table} ({', '.join(index.columns)}): kept: {why}")
                continue
            flagged.add(index.name)
            result.findings.append(
                self._finding(context, backend, "pareto.X001", index, usage, shadow)
            )
        if not usage.write_heavy:
            if usage.writes:
                result.notes.append(
                    f"{table}: indexes kept: not write-heavy "
                    f"({usage.reads:g} reads, {usage.writes:g} writes)"
                )
            return
        used, problem = self._used(backend, table, usage)
        if problem:
            result.notes.append(f"{table}: unused indexes not judged: {problem}")
            return
        for index in indexes:
            if index.name in flagged:
                continue
            if index.name in used:
                result.notes.append(
                    f"{table} ({', '.join(index.columns)}): kept: {used[index.name]}"
                )
                continue
            why = _protected(context, index, indexes)
            if why is not None:
                result.notes.append(f"{table} ({', '.join(index.columns)}): kept: {why}")
                continue
            result.findings.append(
                self._finding(context, backend, "pareto.X002", index, usage, None)
            )

    def _redundant_with(self, index: ExistingIndex, indexes: list[ExistingIndex]) -> str | None:
        """The name of an index that makes ``index`` redundant, or ``None``."""
        # A partial, expression or non-B-tree index is only redundant with its exact twin.
        twin_only = index.partial or index.expressions or not index.plain
        for other in indexes:
            if other is index:
                continue
            if other.signature == index.signature:
                # Same definition twice: keep the unique one, else the first by name.
                if other.unique or other.primary_key or other.name < index.name:
                    return other.name
            elif (
                not twin_only
                and other.plain
                and not other.partial
                and len(other.columns) > len(index.columns)
                and other.serves(index.columns, tuple(o == "DESC" for o in index.orders))
            ):
                return other.name
        return None

    def _used(
        self, backend: DatabaseBackend, table: str, usage: TableTraffic
    ) -> tuple[dict[str, str], str | None]:
        """Index name -> what used it; or why it cannot be known."""
        used: dict[str, str] = {}
        for name, scans in (backend.index_scans(table) or {}).items():
            if scans:
                used[name] = f"scanned {scans} times (pg_stat_user_indexes)"
        for sql in usage.fingerprints.values():
            parsed = parse(sql)
            if parsed.kind == "insert":
                continue
            binding = backend.bind(parsed)
            plan = backend.explain(executable(sql), binding.params) if not binding.problem else None
            if plan is None:
                return used, f"cannot plan {sql[:80]!r}"
            for name in plan.indexes:
                used.setdefault(name, f"used by {sql[:80]!r}")
        return used, None

    def _finding(
        self,
        context: AnalysisContext,
        backend: DatabaseBackend,
        id: str,
        index: ExistingIndex,
        usage: TableTraffic,
        shadow: str | None,
    ) -> Finding:
        cost = backend.insert_cost(index.table, [index.name])
        overhead = cost.overhead if cost else 0.0
        summary, code = _how_to_remove(context, index)
        label = f"{index.table} ({', '.join(index.columns) or index.definition})"
        if shadow:
            title, reason = (
                f"Redundant index {index.name}",
                f"{shadow} serves every lookup it serves",
            )
        else:
            title = f"Unused index {index.name}"
            reason = (
                f"no captured query uses it and the run writes the table {usage.writes:g} times "
                f"against {usage.reads:g} reads"
            )
        return Finding(
            id=id,
            title=title,
            message=f"{label}: {reason}; every insert and update maintains it.",
            fix=Fix(summary=summary, code=code, remove_index=_remove_spec(context, backend, index)),
            savings_ms=usage.write_ms * max(overhead, 0.0),
            evidence={
                "alias": backend.alias,
                "index": index.name,
                "definition": index.definition,
                "redundant_with": shadow,
                "reads": usage.reads,
                "writes": usage.writes,
                "write_ms": usage.write_ms,
                "insert_rows_measured": cost.rows if cost else 0,
                "insert_ms_with": round(cost.with_ms, 3) if cost else None,
                "insert_ms_without": round(cost.without_ms, 3) if cost else None,
                "insert_overhead": round(overhead, 3),
            },
            endpoints=tuple(sorted(usage.write_endpoints, key=lambda e: -usage.write_endpoints[e])),
            obj=label,
            level="warning" if shadow or usage.writes else "info",
        )
