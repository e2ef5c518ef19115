"""The store interface and the SQL shared by the SQLite and PostgreSQL stores."""

from __future__ import annotations

import hashlib
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

from django_pareto.capture.fingerprint import fingerprint_id, normalize
from django_pareto.store.records import (
    QueryGroupRow,
    RequestQueryRow,
    RequestRecord,
    RequestRow,
    RunInfo,
)
from django_pareto.store.tables import tables_of

_CACHE_LIMIT = 20_000


class StoreError(Exception):
    """The store cannot be read or written; the message says which store and why."""


# The layout of the tables below; a store of another layout is refused, not migrated.
SCHEMA_VERSION = 2


def _schema(id_column: str) -> list[str]:
    return [
        "CREATE TABLE IF NOT EXISTS pareto_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        f"""CREATE TABLE IF NOT EXISTS pareto_run (
            id {id_column},
            name TEXT NOT NULL UNIQUE,
            created_at DOUBLE PRECISION NOT NULL,
            faults BIGINT NOT NULL DEFAULT 0,
            meta TEXT NOT NULL DEFAULT '{{}}'
        )""",
        """CREATE TABLE IF NOT EXISTS pareto_request (
            id BIGINT PRIMARY KEY,
            run_id BIGINT NOT NULL,
            endpoint TEXT NOT NULL,
            view_name TEXT NOT NULL,
            method TEXT NOT NULL,
            status INTEGER NOT NULL,
            started_at DOUBLE PRECISION NOT NULL,
            duration_ms DOUBLE PRECISION NOT NULL,
            db_ms DOUBLE PRECISION NOT NULL,
            query_count INTEGER NOT NULL,
            dropped_queries INTEGER NOT NULL,
            sampled BOOLEAN NOT NULL,
            weight DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS pareto_request_run ON pareto_request (run_id)",
        """CREATE TABLE IF NOT EXISTS pareto_fingerprint (
            id TEXT PRIMARY KEY,
            sql TEXT NOT NULL,
            tables TEXT NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS pareto_callsite (
            id TEXT PRIMARY KEY,
            filename TEXT NOT NULL,
            lineno INTEGER NOT NULL,
            function TEXT NOT NULL
        )""",
        # One row per (request, fingerprint, call site, alias): an N+1 of 50 executions is
        # one row, with what later analysis needs to tell a loop from a repeat.
        """CREATE TABLE IF NOT EXISTS pareto_query (
            request_id BIGINT NOT NULL,
            fingerprint_id TEXT NOT NULL,
            callsite_id TEXT,
            alias TEXT NOT NULL,
            first_seq INTEGER NOT NULL,
            calls INTEGER NOT NULL,
            total_ms DOUBLE PRECISION NOT NULL,
            max_ms DOUBLE PRECISION NOT NULL,
            distinct_params INTEGER NOT NULL,
            max_repeats INTEGER NOT NULL,
            params TEXT
        )""",
        "CREATE INDEX IF NOT EXISTS pareto_query_request ON pareto_query (request_id)",
    ]


def _callsite_id(site: tuple[str, int, str]) -> str:
    return hashlib.blake2b(f"{site[0]}:{site[1]}:{site[2]}".encode(), digest_size=8).hexdigest()


class _Group:
    """Executions of one fingerprint from one call site on one alias within a request."""

    __slots__ = ("calls", "first_seq", "max_ms", "params", "params_seen", "total_ms")

    def __init__(self, seq: int, params: Any) -> None:
        self.first_seq = seq
        self.calls = 0
        self.total_ms = 0.0
        self.max_ms = 0.0
        self.params_seen: dict[int | None, int] = {}
        self.params = params

    def add(self, duration_ms: float, params_key: int | None) -> None:
        self.calls += 1
        self.total_ms += duration_ms
        self.max_ms = max(self.max_ms, duration_ms)
        self.params_seen[params_key] = self.params_seen.get(params_key, 0) + 1


class Store(ABC):
    """Where runs live. Subclasses supply a DB-API connection; the SQL is shared.

    SQL here is written with ``%s`` placeholders and ANSI types that both SQLite and
    PostgreSQL accept; ``id_column`` is the only dialect difference in the schema.
    """

    id_column: str = ""
    description: str = ""

    def __init__(self) -> None:
        # Caches of the writer: raw SQL -> fingerprint id, call site -> id, and the ids
        # already in the store (so each is inserted once per process).
        self._fingerprint_of: dict[str, str] = {}
        self._callsite_of: dict[tuple[str, int, str], str] = {}
        self._known_fingerprints: set[str] = set()
        self._known_callsites: set[str] = set()

    # -- what a concrete store provides ---------------------------------------------------
    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    @abstractmethod
    def _transaction(self) -> Any:
        """A context manager: one write transaction, retried by the caller if it fails."""

    def close(self) -> None:  # noqa: B027  (optional hook)
        pass

    # -- schema and runs ------------------------------------------------------------------
    @abstractmethod
    def _table_exists(self, name: str) -> bool: ...

    def ensure_schema(self) -> None:
        """Create the tables of a new store; refuse a store of another layout, untouched."""
        with self._transaction():
            older = self._table_exists("pareto_run") and not self._table_exists("pareto_meta")
            version = None
            if self._table_exists("pareto_meta"):
                rows = self._execute("SELECT value FROM pareto_meta WHERE key = 'schema'")
                version = int(rows[0][0]) if rows else None
            if older or (version is not None and version != SCHEMA_VERSION):
                raise StoreError(
                    f"{self.description} was written by another version of django-pareto "
                    f"(store layout {version or 1}, this version uses {SCHEMA_VERSION}). It was "
                    "left untouched: move it aside (or delete it) to start a new store."
                )
            for statement in _schema(self.id_column):
                self._execute(statement)
            if version is None:
                self._execute(
                    "INSERT INTO pareto_meta (key, value) VALUES ('schema', %s)",
                    [str(SCHEMA_VERSION)],
                )

    def run_id(
        self, name: str, *, create: bool = True, meta: dict[str, Any] | None = None
    ) -> int | None:
        rows = self._execute("SELECT id FROM pareto_run WHERE name = %s", [name])
        if rows:
            return int(rows[0][0])
        if not create:
            return None
        self._execute(
            "INSERT INTO pareto_run (name, created_at, meta) VALUES (%s, %s, %s) "
            "ON CONFLICT (name) DO NOTHING",
            [name, time.time(), json.dumps(meta or {})],
        )
        return int(self._execute("SELECT id FROM pareto_run WHERE name = %s", [name])[0][0])

    def update_meta(self, name: str, meta: dict[str, Any]) -> None:
        with self._transaction():
            run_id = self.run_id(name)
            rows = self._execute("SELECT meta FROM pareto_run WHERE id = %s", [run_id])
            merged = {**json.loads(rows[0][0] or "{}"), **meta}
            self._execute(
                "UPDATE pareto_run SET meta = %s WHERE id = %s", [json.dumps(merged), run_id]
            )

    def add_faults(self, name: str, count: int) -> None:
        with self._transaction():
            run_id = self.run_id(name)
            self._execute(
                "UPDATE pareto_run SET faults = faults + %s WHERE id = %s", [count, run_id]
            )

    def runs(self) -> list[RunInfo]:
        rows = self._execute(
            """SELECT r.id, r.name, r.created_at, r.faults, r.meta,
                      COUNT(q.id), MIN(q.started_at), MAX(q.started_at + q.duration_ms / 1000.0)
               FROM pareto_run r LEFT JOIN pareto_request q ON q.run_id = r.id
               GROUP BY r.id, r.name, r.created_at, r.faults, r.meta
               ORDER BY r.created_at"""
        )
        return [
            RunInfo(
                id=int(row[0]),
                name=row[1],
                created_at=float(row[2]),
                faults=int(row[3]),
                meta=json.loads(row[4] or "{}"),
                requests=int(row[5]),
                first_request_at=row[6],
                last_request_end=row[7],
            )
            for row in rows
        ]

    def run(self, name: str) -> RunInfo | None:
        return next((r for r in self.runs() if r.name == name), None)

    def delete_run(self, name: str) -> bool:
        with self._transaction():
            run_id = self.run_id(name, create=False)
            if run_id is None:
                return False
            self._execute(
                "DELETE FROM pareto_query WHERE request_id IN "
                "(SELECT id FROM pareto_request WHERE run_id = %s)",
                [run_id],
            )
            self._execute("DELETE FROM pareto_request WHERE run_id = %s", [run_id])
            self._execute("DELETE FROM pareto_run WHERE id = %s", [run_id])
            return True

    def prune(self, before: float) -> int:
        """Delete requests that started before ``before`` (unix time), and runs left empty.

        Returns the number of requests deleted.
        """
        with self._transaction():
            self._execute(
                "DELETE FROM pareto_query WHERE request_id IN "
                "(SELECT id FROM pareto_request WHERE started_at < %s)",
                [before],
            )
            count = self._execute(
                "SELECT COUNT(*) FROM pareto_request WHERE started_at < %s", [before]
            )[0][0]
            self._execute("DELETE FROM pareto_request WHERE started_at < %s", [before])
            self._execute(
                "DELETE FROM pareto_run WHERE created_at < %s AND NOT EXISTS "
                "(SELECT 1 FROM pareto_request r WHERE r.run_id = pareto_run.id)",
                [before],
            )
            return int(count)

    # -- writing ----------------------------------------------------------------------------
    def write(
        self, run_name: str, records: Sequence[RequestRecord], *, keep_params: bool = False
    ) -> None:
        """Write a batch of requests (and their sampled queries) in one transaction."""
        fingerprints: dict[str, tuple[str, str, str]] = {}
        callsites: dict[str, tuple[str, str, int, str]] = {}
        query_rows: list[tuple[Any, ...]] = []
        for record in records:
            groups: dict[tuple[str, str | None, str], _Group] = {}
            for seq, event in enumerate(record.queries):
                fid = self._fingerprint_id(event.sql, fingerprints)
                cid = self._callsite_id(event.callsite, callsites)
                key = (fid, cid, event.alias)
                group = groups.get(key)
                if group is None:
                    group = groups[key] = _Group(seq, event.params if keep_params else None)
                group.add(event.duration_ms, event.params_key)
            for (fid, cid, alias), g in groups.items():
                known = [n for k, n in g.params_seen.items() if k is not None]
                query_rows.append(
                    (
                        record.id, fid, cid, alias, g.first_seq, g.calls, g.total_ms, g.max_ms,
                        len(known), max(known, default=0),
                        repr(g.params) if g.params is not None else None,
                    )
                )  # fmt: skip
        with self._transaction():
            run_id = self.run_id(run_name)
            if fingerprints:
                self._executemany(
                    "INSERT INTO pareto_fingerprint (id, sql, tables) VALUES (%s, %s, %s) "
                    "ON CONFLICT (id) DO NOTHING",
                    fingerprints.values(),
                )
            if callsites:
                self._executemany(
                    "INSERT INTO pareto_callsite (id, filename, lineno, function) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                    callsites.values(),
                )
            self._executemany(
                """INSERT INTO pareto_request (id, run_id, endpoint, view_name, method,
                       status, started_at, duration_ms, db_ms, query_count, dropped_queries,
                       sampled, weight)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                [
                    (
                        r.id, run_id, r.endpoint, r.view_name, r.method, r.status, r.started_at,
                        r.duration_ms, r.db_ms, r.query_count, r.dropped_queries, r.sampled,
                        r.weight,
                    )
                    for r in records
                ],
            )  # fmt: skip
            if query_rows:
                self._executemany(
                    """INSERT INTO pareto_query (request_id, fingerprint_id, callsite_id, alias,
                           first_seq, calls, total_ms, max_ms, distinct_params, max_repeats,
                           params)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                    query_rows,
                )
        # Only after the commit: a rolled-back batch must insert these again.
        self._known_fingerprints.update(fingerprints)
        self._known_callsites.update(callsites)

    def _fingerprint_id(self, sql: str, new: dict[str, tuple[str, str, str]]) -> str:
        fid = self._fingerprint_of.get(sql)
        if fid is None:
            text = normalize(sql)
            fid = fingerprint_id(text)
            if len(self._fingerprint_of) >= _CACHE_LIMIT:
                self._fingerprint_of.clear()
            self._fingerprint_of[sql] = fid
            if fid not in self._known_fingerprints and fid not in new:
                new[fid] = (fid, text, ",".join(tables_of(text)))
        elif fid not in self._known_fingerprints and fid not in new:
            text = normalize(sql)  # cached id, but its insert was rolled back
            new[fid] = (fid, text, ",".join(tables_of(text)))
        return fid

    def _callsite_id(
        self, site: tuple[str, int, str] | None, new: dict[str, tuple[str, str, int, str]]
    ) -> str | None:
        if site is None:
            return None
        cid = self._callsite_of.get(site)
        if cid is None:
            cid = _callsite_id(site)
            if len(self._callsite_of) >= _CACHE_LIMIT:
                self._callsite_of.clear()
            self._callsite_of[site] = cid
        if cid not in self._known_callsites and cid not in new:
            new[cid] = (cid, *site)
        return cid

    # -- reading ----------------------------------------------------------------------------
    def request_rows(self, run_name: str) -> list[RequestRow]:
        run_id = self.run_id(run_name, create=False)
        if run_id is None:
            return []
        rows = self._execute(
            """SELECT endpoint, method, status, started_at, duration_ms, db_ms, query_count, weight
               FROM pareto_request WHERE run_id = %s ORDER BY started_at, id""",
            [run_id],
        )
        return [RequestRow(*row) for row in rows]

    def query_groups(self, run_name: str) -> list[QueryGroupRow]:
        run_id = self.run_id(run_name, create=False)
        if run_id is None:
            return []
        rows = self._execute(
            """SELECT q.fingerprint_id, f.sql, f.tables, r.endpoint,
                      c.filename, c.lineno, c.function,
                      SUM(q.calls * r.weight), SUM(q.total_ms * r.weight)
               FROM pareto_query q
               JOIN pareto_request r ON r.id = q.request_id
               JOIN pareto_fingerprint f ON f.id = q.fingerprint_id
               LEFT JOIN pareto_callsite c ON c.id = q.callsite_id
               WHERE r.run_id = %s
               GROUP BY q.fingerprint_id, f.sql, f.tables, r.endpoint,
                        c.filename, c.lineno, c.function""",
            [run_id],
        )
        return [
            QueryGroupRow(
                fingerprint_id=row[0],
                sql=row[1],
                tables=tuple(t for t in row[2].split(",") if t),
                endpoint=row[3],
                callsite=f"{row[4]}:{row[5]} in {row[6]}" if row[4] is not None else None,
                calls=float(row[7]),
                total_ms=float(row[8]),
            )
            for row in rows
        ]

    def request_queries(self, run_name: str) -> list[RequestQueryRow]:
        """Every request's query groups, in request and execution order (for analyzers)."""
        run_id = self.run_id(run_name, create=False)
        if run_id is None:
            return []
        rows = self._execute(
            """SELECT q.request_id, r.endpoint, r.weight, q.fingerprint_id, f.sql, f.tables,
                      c.filename, c.lineno, c.function, q.alias, q.first_seq, q.calls,
                      q.total_ms, q.max_ms, q.distinct_params, q.max_repeats
               FROM pareto_query q
               JOIN pareto_request r ON r.id = q.request_id
               JOIN pareto_fingerprint f ON f.id = q.fingerprint_id
               LEFT JOIN pareto_callsite c ON c.id = q.callsite_id
               WHERE r.run_id = %s
               ORDER BY r.started_at, q.request_id, q.first_seq""",
            [run_id],
        )
        return [
            RequestQueryRow(
                request_id=int(row[0]),
                endpoint=row[1],
                weight=float(row[2]),
                fingerprint_id=row[3],
                sql=row[4],
                tables=tuple(t for t in row[5].split(",") if t),
                callsite=f"{row[6]}:{row[7]} in {row[8]}" if row[6] is not None else None,
                alias=row[9],
                first_seq=int(row[10]),
                calls=int(row[11]),
                total_ms=float(row[12]),
                max_ms=float(row[13]),
                distinct_params=int(row[14]),
                max_repeats=int(row[15]),
            )
            for row in rows
        ]
