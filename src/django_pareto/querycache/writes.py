"""The statement hook: every write, from the ORM or raw SQL, invalidates its tables.

One ``execute_wrapper`` per connection sees each statement Django sends, whatever sent it
(``save``, ``bulk_update``, ``QuerySet.update``, many-to-many changes, a raw cursor). A
write's tables are invalidated once it has committed: at once in autocommit, on commit
inside ``atomic`` (a rollback leaves the cache alone). Reads seen here report their tables
to the page and fragment caches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from django_pareto.querycache import collect, metrics, runtime
from django_pareto.querycache.sqlinfo import READ, WRITE, statement

logger = logging.getLogger("django_pareto.querycache")


def statement_hook(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    rt = runtime.get()
    if rt is None or runtime.internal.get():
        return execute(sql, params, many, context)
    connection: BaseDatabaseWrapper = context["connection"]
    stmt = statement(sql)
    if stmt.kind == READ:
        if collect.active():
            _report_read(rt, connection, sql)
        return execute(sql, params, many, context)
    if stmt.kind != WRITE:
        return execute(sql, params, many, context)
    if collect.active():
        collect.report_write()
    if connection.in_atomic_block:
        # Before it runs: from now on this transaction's reads bypass the cache.
        _record(rt, connection, stmt)
        return execute(sql, params, many, context)
    try:
        return execute(sql, params, many, context)
    finally:  # committed (autocommit) or failed: invalidating costs at most a miss
        _record(rt, connection, stmt)


def _record(rt: runtime.Runtime, connection: BaseDatabaseWrapper, stmt: Any) -> None:
    try:
        rt.wrote(connection, stmt)
    except Exception as exc:  # never fail the user's write
        metrics.count("faults")
        logger.warning("query cache: recording a write failed: %r", exc)


def _report_read(rt: runtime.Runtime, connection: BaseDatabaseWrapper, sql: str) -> None:
    try:
        tables = rt.read_tables(connection, sql, tuple)
    except Exception:
        tables = None
    collect.report(tables or (), spoiled=tables is None)


def install(connection: BaseDatabaseWrapper) -> None:
    if statement_hook not in connection.execute_wrappers:
        connection.execute_wrappers.append(statement_hook)


def install_everywhere() -> None:
    for alias in connections:
        install(connections[alias])


def on_connection_created(
    sender: object, connection: BaseDatabaseWrapper, **kwargs: object
) -> None:
    install(connection)
