"""The query cache's state in this process: settings, the shared cache, what each database
holds, and what each connection's transaction has done."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.core.cache import caches
from django.db.backends.base.base import BaseDatabaseWrapper

from django_pareto.querycache import conf, metrics
from django_pareto.querycache.generations import Generations, generations_for
from django_pareto.querycache.sqlinfo import ALL, Statement, statement

logger = logging.getLogger("django_pareto.querycache")

# A catalog that lacks a table a query names is reloaded at most this often (a table
# created by another process's migration); meanwhile such reads are not cached.
CATALOG_RELOAD_SECONDS = 10.0
TABLES_CACHE_LIMIT = 4096  # distinct read statements remembered per process


@dataclass(frozen=True)
class Catalog:
    """Lower-cased names of a database's tables and views."""

    tables: frozenset[str]
    views: frozenset[str]
    loaded_at: float


class Invalidation:
    """The on-commit callback of a transaction's writes to ``tables``.

    Django keeps it in ``connection.run_on_commit`` until the transaction commits (and
    runs it) or the savepoint it was registered in rolls back (and drops it): so whether a
    transaction has written, and what it owes, is read from that list, never from state of
    our own that could outlive the transaction.
    """

    def __init__(self, generations: Generations, tables: frozenset[str]) -> None:
        self.generations = generations
        self.tables = tables

    def __call__(self) -> None:
        self.generations.bump(self.tables)


def _pending(connection: BaseDatabaseWrapper) -> list[tuple[set[str], Invalidation]]:
    return [(sids, f) for sids, f, *_ in connection.run_on_commit if isinstance(f, Invalidation)]


class Runtime:
    def __init__(self, settings: conf.QueryCacheSettings) -> None:
        self.settings = settings
        self.cache = caches[settings.CACHE]
        self.generations = generations_for(self.cache, settings.KEY_PREFIX)
        self._catalogs: dict[str, Catalog] = {}
        self._tables: dict[tuple[str, str], tuple[Catalog, frozenset[str] | None]] = {}

    # -- what the database holds ---------------------------------------------------------

    def catalog(self, connection: BaseDatabaseWrapper, reload: bool = False) -> Catalog | None:
        found = self._catalogs.get(connection.alias)
        if found is not None and not (
            reload and time.monotonic() - found.loaded_at > CATALOG_RELOAD_SECONDS
        ):
            return found
        token = internal.set(True)
        try:
            with connection.cursor() as cursor:
                infos = connection.introspection.get_table_list(cursor)
        except Exception as exc:  # e.g. an aborted transaction: don't cache for now
            logger.debug("query cache: reading the table list failed: %r", exc)
            return found
        finally:
            internal.reset(token)
        found = Catalog(
            frozenset(i.name.lower() for i in infos if i.type != "v"),
            frozenset(i.name.lower() for i in infos if i.type == "v"),
            time.monotonic(),
        )
        self._catalogs[connection.alias] = found
        return found

    def forget_catalog(self, alias: str) -> None:
        self._catalogs.pop(alias, None)

    def read_tables(
        self, connection: BaseDatabaseWrapper, sql: str, named: Callable[[], Iterable[str]]
    ) -> frozenset[str] | None:
        """The tables a read depends on, or None when that can't be known for sure.

        Cached per SQL text for as long as the catalog it was read against (the tables a
        query's model names are all in its SQL, so the text decides the answer).
        """
        key = (connection.alias, sql)
        found = self._tables.get(key)
        if found is not None and found[0] is self._catalogs.get(connection.alias):
            return found[1]
        tables = self._read_tables(connection, statement(sql), {n.lower() for n in named()})
        if len(self._tables) >= TABLES_CACHE_LIMIT:
            self._tables.clear()
        catalog = self._catalogs.get(connection.alias)
        if catalog is not None:
            self._tables[key] = (catalog, tables)
        return tables

    def _read_tables(
        self, connection: BaseDatabaseWrapper, stmt: Statement, named: set[str]
    ) -> frozenset[str] | None:
        if stmt.volatile:
            return None
        catalog = self.catalog(connection)
        if catalog is None:
            return None
        if not named <= catalog.tables:
            catalog = self.catalog(connection, reload=True)
            if catalog is None or not named <= catalog.tables:
                return None
        if stmt.tables & catalog.views:  # a view's base tables are not known here
            return None
        tables = stmt.tables & catalog.tables
        return tables or None

    # -- what a connection's transaction has done ------------------------------------------

    def usable(self, connection: BaseDatabaseWrapper) -> bool:
        """May reads on this connection use the cache right now?"""
        if _disabled.get():
            return False
        aliases = self.settings.DATABASES
        if aliases is not None and connection.alias not in aliases:
            return False
        if connection.in_atomic_block:
            if _pending(connection):
                return False  # this transaction wrote: its reads must see its own writes
        elif not connection.get_autocommit():  # (connects first: before that it reads False)
            return False  # manual transaction management: no commit hook to rely on
        return self.generations.healthy

    def can_store(self, connection: BaseDatabaseWrapper) -> bool:
        """Does a read here see every commit made before it began? Only then may it be
        stored: a transaction's older snapshot (SQLite, REPEATABLE READ) could be stale."""
        if not connection.in_atomic_block:
            return True
        return connection.vendor == "postgresql" and _read_committed(connection)

    def wrote(self, connection: BaseDatabaseWrapper, stmt: Statement) -> None:
        """A write ran: invalidate now (autocommit) or when its transaction commits."""
        if stmt.schema:
            self.forget_catalog(connection.alias)
        tables = stmt.tables
        if not connection.in_atomic_block:
            self.generations.bump(tables)
            return
        sids = set(connection.savepoint_ids)
        if not any(s == sids and f.tables == tables for s, f in _pending(connection)):
            # Once per table set and savepoint level: a loop of writes registers one.
            connection.on_commit(Invalidation(self.generations, tables), robust=True)

    def invalidate(self, tables: Iterable[str]) -> None:
        self.generations.bump({t.lower() for t in tables} or {ALL})


def _read_committed(connection: BaseDatabaseWrapper) -> bool:
    # Django's default on PostgreSQL; psycopg 2 and 3 number the levels differently, and
    # Django's psycopg_any names them for whichever is installed.
    from django.db.backends.postgresql.psycopg_any import IsolationLevel

    return getattr(connection, "isolation_level", None) == IsolationLevel.READ_COMMITTED


_runtime: Runtime | None = None
_enabled = False
_broken = False  # the settings could not start a runtime (pareto.E004 says why)
_disabled: ContextVar[bool] = ContextVar("pareto_querycache_disabled", default=False)
# Set while a whole queryset is computed to be cached as objects, to its compiler, SQL and
# parameters (compiled once): that query is not also cached as rows, and no other read
# in the meantime is cached on its own (a graph's prefetches: ``UNCACHED``).
computing_objects: ContextVar[tuple[Any, str, Any] | None] = ContextVar(
    "pareto_querycache_objects", default=None
)
UNCACHED: tuple[Any, str, Any] = (None, "", None)
# Set while the cache runs its own statements (the table list): the hook lets them be.
internal: ContextVar[bool] = ContextVar("pareto_querycache_internal", default=False)


def enable() -> None:
    global _enabled
    _enabled = True


def get() -> Runtime | None:
    """The runtime, or None before the app is ready or when it can't start."""
    global _runtime
    global _broken
    if _runtime is None and _enabled and not _broken:
        try:
            _runtime = Runtime(conf.get())
        except Exception as exc:  # a bad CACHE alias: the site still runs, uncached
            # Once, not on every read: the settings won't change until reset().
            _broken = True
            metrics.count("faults")
            logger.error("query cache disabled: %s", exc)
            return None
    return _runtime


def reset(**_: object) -> None:
    """Forget the settings and the runtime (connected to ``setting_changed``)."""
    global _runtime, _broken
    conf.reset()
    _runtime = None
    _broken = False


@contextmanager
def disabled() -> Iterator[None]:
    """Bypass the query cache inside this block (reads go to the database; writes still
    invalidate)."""
    token = _disabled.set(True)
    try:
        yield
    finally:
        _disabled.reset(token)
