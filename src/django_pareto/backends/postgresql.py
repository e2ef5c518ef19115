"""PostgreSQL: planner statistics, EXPLAIN costs, HypoPG what-ifs, index scan counters."""

from __future__ import annotations

import json
import time
from functools import cached_property
from typing import Any

from django.db import DatabaseError, transaction

from django_pareto.analyze.sqlparse import IS_NULL, IS_TRUE, NOT_NULL, Predicate
from django_pareto.backends.base import (
    WRITE_SAMPLE_ROWS,
    DatabaseBackend,
    ExistingIndex,
    InsertCost,
    Plan,
)


class PostgreSQLBackend(DatabaseBackend):
    vendor = "postgresql"
    supports_expression_indexes = True
    supports_concurrent_index_builds = True
    # Django compiles iexact to UPPER("col"::text) = UPPER(%s) on PostgreSQL.
    iexact_uses_upper = True
    has_index_usage_stats = True

    @cached_property
    def supports_hypothetical_indexes(self) -> bool:  # type: ignore[override]
        rows = self.query("SELECT 1 FROM pg_extension WHERE extname = 'hypopg'")
        return bool(rows)

    def _qn(self, name: str) -> str:
        return self.connection.ops.quote_name(name)

    # -- introspection ------------------------------------------------------------------
    @cached_property
    def _definitions(self) -> dict[str, tuple[str, bool, str]]:
        """Index name -> (CREATE INDEX text, partial, access method), for every table."""
        rows = self.query(
            """SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indpred IS NOT NULL, am.amname
               FROM pg_index i
               JOIN pg_class c ON c.oid = i.indexrelid
               JOIN pg_am am ON am.oid = c.relam
               WHERE pg_table_is_visible(c.oid)"""
        )
        return {name: (definition, partial, method) for name, definition, partial, method in rows}

    def _existing(
        self, table: str, name: str, info: dict[str, Any], columns: tuple[str, ...]
    ) -> ExistingIndex:
        index = super()._existing(table, name, info, columns)
        definition, partial, method = self._definitions.get(name, ("", False, "btree"))
        # "... USING btree (slug varchar_pattern_ops)": the part after USING tells the same
        # index under two names apart from a LIKE-only one (operator class) on one column.
        using = definition.partition(" USING ")[2]
        return ExistingIndex(
            **{
                **index.__dict__,
                "partial": partial,
                "plain": method == "btree" and "_ops" not in using,
                "signature": using or index.signature,
                "definition": definition,
            }
        )

    # -- statistics ---------------------------------------------------------------------
    def analyze_if_needed(self, table: str) -> None:
        """ANALYZE a table the planner has no statistics for (reltuples < 0 since PG 14)."""
        rows = self.query(
            "SELECT c.reltuples, COALESCE(s.last_analyze, s.last_autoanalyze) "
            "FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
            "WHERE c.oid = %s::regclass",
            [self._qn(table)],
        )
        if rows and (rows[0][0] < 0 or (rows[0][0] == 0 and rows[0][1] is None)):
            self.query(f"ANALYZE {self._qn(table)}")

    def row_count(self, table: str) -> int:
        self.analyze_if_needed(table)
        rows = self.query(
            "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [self._qn(table)]
        )
        return max(int(rows[0][0]), 0) if rows else 0

    def _stats(self, table: str, column: str) -> tuple[float, float, list[str], list[float]] | None:
        """(null_frac, distinct values, most common values as text, their frequencies)."""
        query = (
            "SELECT null_frac, n_distinct, most_common_vals::text::text[], most_common_freqs "
            "FROM pg_stats WHERE schemaname = ANY(current_schemas(false)) "
            "AND tablename = %s AND attname = %s"
        )
        rows = self.query(query, [table, column])
        if not rows:
            self.query(f"ANALYZE {self._qn(table)}")
            rows = self.query(query, [table, column])
        if not rows:
            return None
        null_frac, n_distinct, values, freqs = rows[0]
        # n_distinct < 0 is minus the distinct values as a share of rows (pg_stats docs).
        distinct = -float(n_distinct) * self.row_count(table) if n_distinct < 0 else n_distinct
        return (
            float(null_frac),
            float(distinct),
            [str(v) for v in values or []],
            [float(f) for f in freqs or []],
        )

    def match_fraction(self, table: str, column: str) -> float | None:
        stats = self._stats(table, column)
        if stats is None:
            return None
        null_frac, distinct, _, freqs = stats
        common = sum(f * f for f in freqs)
        rest = max(1.0 - null_frac - sum(freqs), 0.0)
        others = max(distinct - len(freqs), 1.0)
        return float(common + rest * rest / others)

    def predicate_fraction(self, table: str, predicate: Predicate) -> float | None:
        stats = self._stats(table, predicate.column)
        if stats is None:
            return None
        null_frac, distinct, values, freqs = stats
        if predicate.kind == IS_NULL:
            return null_frac
        if predicate.kind == NOT_NULL:
            return 1.0 - null_frac
        # A boolean: its values read as text are "t" and "f".
        value = "t" if predicate.kind == IS_TRUE else "f"
        if value in values:
            return float(freqs[values.index(value)])
        # Not among the most common values: a share of what the common ones leave (none
        # at all when the sample saw only the other value).
        rest = max(1.0 - null_frac - sum(freqs), 0.0)
        return float(rest / max(distinct - len(freqs), 1.0))

    # -- plans --------------------------------------------------------------------------
    def _explain(self, sql: str, params: list[Any]) -> Plan:
        with self.connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            raw = cursor.fetchone()[0]
        document = json.loads(raw) if isinstance(raw, str) else raw
        root = document[0]["Plan"]
        used: list[str] = []
        lines: list[str] = []

        def walk(node: dict[str, Any], depth: int) -> None:
            name = node.get("Index Name")
            if name and name not in used:
                used.append(name)
            on = f" on {node['Relation Name']}" if "Relation Name" in node else ""
            using = f" using {name}" if name else ""
            lines.append(
                f"{'  ' * depth}{node['Node Type']}{using}{on} (cost {node['Total Cost']})"
            )
            for child in node.get("Plans", []):
                walk(child, depth + 1)

        walk(root, 0)
        return Plan(cost=float(root["Total Cost"]), indexes=tuple(used), text="\n".join(lines))

    def compare(
        self, sql: str, params: list[Any], table: str, create_sql: str
    ) -> tuple[Plan, Plan] | None:
        if not self.supports_hypothetical_indexes:
            return None
        before = self.explain(sql, params)
        if before is None:
            return None
        try:
            with transaction.atomic(using=self.alias):
                rows = self.query("SELECT indexrelid FROM hypopg_create_index(%s)", [create_sql])
                try:
                    after = self._explain(sql, params)
                finally:
                    self.query("SELECT hypopg_drop_index(%s)", [rows[0][0]])
        except DatabaseError:
            return None
        return before, after

    # -- writes -------------------------------------------------------------------------
    def index_scans(self, table: str) -> dict[str, int]:
        rows = self.query(
            "SELECT indexrelname, idx_scan FROM pg_stat_user_indexes WHERE relname = %s", [table]
        )
        return {name: int(scans or 0) for name, scans in rows}

    def insert_cost(self, table: str, drop: list[str]) -> InsertCost | None:
        """Measured on a temporary copy (LIKE ... INCLUDING ALL): the real table is not locked."""
        source = self._qn(table)
        drop_using = {
            self._definitions.get(name, ("", False, ""))[0].partition(" USING ")[2] for name in drop
        }
        try:
            with transaction.atomic(using=self.alias):
                self.query(
                    f"CREATE TEMP TABLE pareto_scratch (LIKE {source} INCLUDING ALL) ON COMMIT DROP"
                )
                self.query(
                    f"CREATE TEMP TABLE pareto_rows ON COMMIT DROP AS "
                    f"SELECT * FROM {source} LIMIT {WRITE_SAMPLE_ROWS}"
                )
                rows = int(self.query("SELECT COUNT(*) FROM pareto_rows")[0][0])
                if rows == 0:
                    raise _Rollback
                with_ms = self._reinsert()
                copies = self.query(
                    "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
                    "WHERE indrelid = 'pareto_scratch'::regclass"
                )
                for name, definition in copies:
                    if definition.partition(" USING ")[2] in drop_using:
                        self.query(f"DROP INDEX {name}")
                without_ms = self._reinsert()
                raise _Rollback  # nothing of the measurement stays
        except _Rollback:
            pass
        except DatabaseError:
            return None
        if "without_ms" not in locals():
            return None
        return InsertCost(rows=rows, with_ms=with_ms, without_ms=without_ms)

    def _reinsert(self) -> float:
        best = float("inf")
        for _ in range(2):
            self.query("TRUNCATE pareto_scratch")
            begin = time.perf_counter()
            self.query("INSERT INTO pareto_scratch SELECT * FROM pareto_rows")
            best = min(best, (time.perf_counter() - begin) * 1000)
        return best


class _Rollback(Exception):
    """Leaves a measuring transaction (savepoint) without keeping anything."""
