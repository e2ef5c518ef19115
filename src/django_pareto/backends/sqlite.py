"""SQLite: no hypothetical indexes, so every what-if runs on a scratch copy of the database."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from django_pareto.analyze.sqlparse import Predicate
from django_pareto.backends.base import (
    WRITE_SAMPLE_ROWS,
    DatabaseBackend,
    ExistingIndex,
    InsertCost,
    Plan,
)

# Rows read to estimate a column's selectivity: bounds the GROUP BY on a large table.
STATS_SAMPLE_ROWS = 100_000
# A query is timed until this much time has passed or this many runs, the best run kept:
# the minimum is the least noisy estimate of a statement's own cost.
TIMING_BUDGET_S = 0.2
TIMING_MAX_RUNS = 25


def _qn(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SQLiteBackend(DatabaseBackend):
    vendor = "sqlite"
    supports_hypothetical_indexes = False
    supports_expression_indexes = True
    # Django compiles iexact to "col" LIKE %s ESCAPE '\' on SQLite: no B-tree serves it
    # unless the column is declared COLLATE NOCASE.
    iexact_uses_upper = False
    has_index_usage_stats = False

    def __init__(self, alias: str) -> None:
        super().__init__(alias)
        self._scratch: sqlite3.Connection | None = None
        self._scratch_dir: tempfile.TemporaryDirectory[str] | None = None

    # -- scratch copy -------------------------------------------------------------------
    def scratch(self) -> sqlite3.Connection:
        """A private copy of the database (sqlite3's online backup), made once per backend.

        The backup API copies in-memory databases too (Django's test databases).
        """
        if self._scratch is None:
            self.connection.ensure_connection()
            if self.connection.connection.in_transaction:
                # The backup waits for the source's write lock, which its own open
                # transaction holds: it would wait forever.
                raise sqlite3.OperationalError("the database is inside a transaction")
            self._scratch_dir = tempfile.TemporaryDirectory(prefix="pareto-scratch-")
            path = Path(self._scratch_dir.name) / "scratch.sqlite3"
            target = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.connection.connection.backup(target)
            self._scratch = target
        return self._scratch

    def close(self) -> None:
        if self._scratch is not None:
            self._scratch.close()
            self._scratch = None
        if self._scratch_dir is not None:
            self._scratch_dir.cleanup()
            self._scratch_dir = None

    def __del__(self) -> None:
        self.close()

    # -- introspection ------------------------------------------------------------------
    def _existing(
        self, table: str, name: str, info: dict[str, Any], columns: tuple[str, ...]
    ) -> ExistingIndex:
        rows = self.query(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = %s", [name]
        )
        definition = (rows[0][0] or "") if rows else ""
        index = super()._existing(table, name, info, columns)
        # Constraints written inside CREATE TABLE: Django's introspection names them
        # "__primary__" and "__unnamed_constraint_N__"; say what they are instead.
        if name == "__primary__":
            name = f"PRIMARY KEY ({', '.join(index.columns)})"
        elif name.startswith("__unnamed_constraint"):
            name = f"UNIQUE ({', '.join(index.columns)})"
        # Django's introspection does not report a partial index's WHERE; its SQL does.
        where = definition.upper().partition(" WHERE ")[2]
        return ExistingIndex(
            **{
                **index.__dict__,
                "name": name,
                "partial": bool(where),
                "definition": definition,
                "signature": f"{index.signature} WHERE {where}" if where else index.signature,
            }
        )

    def row_count(self, table: str) -> int:
        return int(self.query(f"SELECT COUNT(*) FROM {_qn(table)}")[0][0])

    def match_fraction(self, table: str, column: str) -> float | None:
        col = _qn(column)
        rows = self.query(
            f"SELECT SUM(c * c), (SELECT COUNT(*) FROM (SELECT 1 FROM {_qn(table)} LIMIT %s)) "
            f"FROM (SELECT COUNT(*) AS c FROM (SELECT {col} FROM {_qn(table)} LIMIT %s) "
            f"WHERE {col} IS NOT NULL GROUP BY {col})",
            [STATS_SAMPLE_ROWS, STATS_SAMPLE_ROWS],
        )
        squares, total = rows[0]
        if not total:
            return None
        return float(squares or 0) / (float(total) ** 2)

    def predicate_fraction(self, table: str, predicate: Predicate) -> float | None:
        # SQLite keeps no per-value statistics: count. One pass over the column, on a table
        # a query of the run reads anyway, and the whole table, not a sample: the rows a
        # condition picks out (new ones, unreviewed ones) often sit together at one end.
        rows = self.query(
            f"SELECT AVG(CASE WHEN {predicate.sql(_qn)} THEN 1.0 ELSE 0.0 END) FROM {_qn(table)}"
        )
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    # -- plans --------------------------------------------------------------------------
    def explain(self, sql: str, params: list[Any]) -> Plan | None:
        """The plan on the scratch copy (EXPLAIN QUERY PLAN only: nothing runs)."""
        try:
            return self._measure(self.scratch(), sql, params, timed=False)
        except sqlite3.Error:
            return None

    def _measure(
        self, db: sqlite3.Connection, sql: str, params: list[Any], *, timed: bool = True
    ) -> Plan:
        statement = sql.replace("%s", "?")
        details = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {statement}", params)]
        used = []
        for detail in details:
            words = detail.split()
            if "INDEX" in words and words.index("INDEX") + 1 < len(words):
                used.append(words[words.index("INDEX") + 1])
        best = float("inf")
        started = time.perf_counter()
        for _ in range(TIMING_MAX_RUNS if timed else 0):
            begin = time.perf_counter()
            db.execute(statement, params).fetchall()
            best = min(best, (time.perf_counter() - begin) * 1000)
            if time.perf_counter() - started > TIMING_BUDGET_S:
                break
        return Plan(cost=best, indexes=tuple(used), text="\n".join(details), measured=timed)

    def compare(
        self, sql: str, params: list[Any], table: str, create_sql: str
    ) -> tuple[Plan, Plan] | None:
        try:
            db = self.scratch()
            before = self._measure(db, sql, params)
            db.execute("SAVEPOINT pareto_what_if")
            try:
                db.execute(create_sql)
                db.execute(f"ANALYZE {_qn(table)}")  # the planner weighs the new index
                after = self._measure(db, sql, params)
            finally:
                db.execute("ROLLBACK TO pareto_what_if")
                db.execute("RELEASE pareto_what_if")
        except sqlite3.Error:
            return None
        return before, after

    # -- writes -------------------------------------------------------------------------
    def insert_cost(self, table: str, drop: list[str]) -> InsertCost | None:
        try:
            db = self.scratch()
        except sqlite3.Error:
            return None
        columns = [row[1] for row in db.execute(f"PRAGMA table_info({_qn(table)})")]
        names = ", ".join(_qn(c) for c in columns)
        try:
            db.execute("SAVEPOINT pareto_writes")
            try:
                db.execute(
                    f"CREATE TEMP TABLE pareto_rows AS SELECT rowid AS pareto_rowid, {names} "
                    f"FROM {_qn(table)} LIMIT {WRITE_SAMPLE_ROWS}"
                )
                rows = int(db.execute("SELECT COUNT(*) FROM pareto_rows").fetchone()[0])
                if rows == 0:
                    return None
                with_ms = self._reinsert(db, table, names)
                for name in drop:
                    db.execute(f"DROP INDEX {_qn(name)}")
                without_ms = self._reinsert(db, table, names)
            finally:
                db.execute("ROLLBACK TO pareto_writes")
                db.execute("RELEASE pareto_writes")
        except sqlite3.Error:
            return None
        return InsertCost(rows=rows, with_ms=with_ms, without_ms=without_ms)

    def _reinsert(self, db: sqlite3.Connection, table: str, names: str) -> float:
        """Delete the sampled rows and insert them again (twice, the faster kept)."""
        best = float("inf")
        for _ in range(2):
            db.execute(
                f"DELETE FROM {_qn(table)} WHERE rowid IN (SELECT pareto_rowid FROM pareto_rows)"
            )
            begin = time.perf_counter()
            db.execute(f"INSERT INTO {_qn(table)} ({names}) SELECT {names} FROM pareto_rows")
            best = min(best, (time.perf_counter() - begin) * 1000)
        return best
