"""The embedded store: one SQLite file of its own, shared safely by several processes."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django_pareto.store.base import Store, StoreError

# Several gunicorn workers write at once: WAL lets readers go on while one writes, and the
# busy timeout makes a writer wait for the lock instead of failing.
_BUSY_TIMEOUT_S = 30.0


class SQLiteStore(Store):
    id_column = "INTEGER PRIMARY KEY"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.description = f"SQLite store {self.path}"
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            self._use_wal()
            self._conn.execute("PRAGMA synchronous=NORMAL")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(self._explain(exc)) from exc
        self._in_transaction = False

    def _use_wal(self) -> None:
        """Switch the file to WAL, waiting for other processes opening it at the same moment.

        Changing the journal mode needs an exclusive lock, and SQLite answers "database is
        locked" at once instead of calling the busy handler when another connection is
        creating the file or switching it too; so wait and retry, within the busy timeout.
        """
        deadline = time.monotonic() + _BUSY_TIMEOUT_S
        delay = 0.005
        while True:
            try:
                mode = self._conn.execute("PRAGMA journal_mode").fetchone()[0]
                if str(mode).lower() != "wal":
                    self._conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    def _explain(self, exc: BaseException) -> str:
        text = str(exc)
        if "not a database" in text or "malformed" in text:
            return (
                f"{self.description} is corrupt ({text}). It was left untouched: move it "
                "aside (or delete it) and a new store will be created."
            )
        return f"{self.description} cannot be used: {text}"

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql.replace("%s", "?"), tuple(params)).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(self._explain(exc)) from exc

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._lock:
            try:
                self._conn.executemany(sql.replace("%s", "?"), rows)
            except sqlite3.Error as exc:
                raise StoreError(self._explain(exc)) from exc

    def _table_exists(self, name: str) -> bool:
        return bool(
            self._execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", [name])
        )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            if self._in_transaction:  # nested: part of the outer transaction
                yield
                return
            self._execute("BEGIN IMMEDIATE")
            self._in_transaction = True
            try:
                yield
            except BaseException:
                self._in_transaction = False
                self._conn.rollback()
                raise
            self._in_transaction = False
            self._execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
