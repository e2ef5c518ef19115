"""The one place reads are intercepted: ``SQLCompiler.execute_sql``.

Every ORM read (iteration, ``get``, ``count``, ``exists``, ``aggregate``, ``values``,
related managers) ends here with its SQL compiled, which is where django-cachalot hooks in
too. Only whole results are cached (``MULTI`` fetched into memory, and ``SINGLE``); a
streaming ``iterator()``, a locking read and the write compilers go straight through.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db.models.sql import compiler as sql_compiler
from django.db.models.sql.constants import MULTI, SINGLE

from django_pareto.querycache import collect, metrics, results, runtime

logger = logging.getLogger("django_pareto.querycache")

_WRITE_COMPILERS = (
    sql_compiler.SQLInsertCompiler,
    sql_compiler.SQLUpdateCompiler,
    sql_compiler.SQLDeleteCompiler,
)
_original = sql_compiler.SQLCompiler.execute_sql

# The attribute ``.cache()`` sets on a Query: a timeout in seconds, or False for never.
QUERY_FLAG = "_pareto_cache"


def _timeout(compiler: Any, rt: runtime.Runtime) -> float | None:
    """How long to keep this read, or None when it isn't to be cached."""
    query = compiler.query
    flag = getattr(query, QUERY_FLAG, None)
    if flag is False or query.select_for_update:
        return None
    settings = rt.settings
    label = query.model._meta.label if query.model is not None else None
    if label in settings.EXCLUDE_MODELS:
        return None
    if flag is not None:
        return float(flag) if flag is not True else float(settings.TIMEOUT)
    if settings.MODE == "all" or label in settings.MODELS:
        return float(settings.TIMEOUT)
    return None


def execute_sql(
    self: Any, result_type: Any = MULTI, chunked_fetch: bool = False, *args: Any, **kw: Any
) -> Any:
    if (
        result_type not in (MULTI, SINGLE)
        or chunked_fetch
        or isinstance(self, _WRITE_COMPILERS)
        or (rt := runtime.get()) is None
    ):
        return _original(self, result_type, chunked_fetch, *args, **kw)
    precompiled = runtime.computing_objects.get()
    if precompiled is not None:  # the whole queryset is being cached as objects (not rows)
        planned, sql, params = precompiled
        if planned is self:
            return _run(self, sql, params, result_type, chunked_fetch, *args, **kw)
        return _original(self, result_type, chunked_fetch, *args, **kw)
    conn = self.connection
    try:
        found = plan(self, rt)
    except EmptyResultSet:
        return _original(self, result_type, chunked_fetch, *args, **kw)
    except Exception as exc:  # the cache's own bug must not fail the read
        metrics.count("faults")
        logger.warning("query cache: planning a read failed: %r", exc)
        found = None
    if found is None:
        return _original(self, result_type, chunked_fetch, *args, **kw)
    sql, params, tables, timeout = found

    def compute() -> Any:
        return _run(self, sql, params, result_type, chunked_fetch, *args, **kw)

    collect.report(tables)
    shape = (result_type, self.col_count, self.has_extra_select)
    key = results.result_key(rt.settings.KEY_PREFIX, conn.alias, sql, params, shape)
    max_rows = rt.settings.MAX_ROWS

    def small(value: Any) -> bool:  # MULTI: a list of fetched chunks of rows
        return result_type != MULTI or sum(map(len, value)) <= max_rows

    return results.fetch(rt, key, tables, timeout, compute, rt.can_store(conn), small)


def _run(
    compiler: Any,
    sql: str,
    params: Any,
    result_type: Any,
    chunked_fetch: bool,
    *args: Any,
    **kw: Any,
) -> Any:
    """Django's own execution of SQL compiled already (compiling costs as much as a hit)."""
    compiler.as_sql = lambda *a, **k: (sql, params)
    try:
        value = _original(compiler, result_type, chunked_fetch, *args, **kw)
    finally:
        del compiler.as_sql
    return list(value) if result_type == MULTI else value


def plan(compiler: Any, rt: runtime.Runtime) -> tuple[str, Any, tuple[str, ...], float] | None:
    """The read's SQL, parameters, tables and timeout, or None when it is not cached (or
    the cache can't be used on its connection right now: a transaction that wrote)."""
    timeout = _timeout(compiler, rt)
    if timeout is None:
        return None
    if not rt.usable(compiler.connection):
        metrics.count("bypassed")
        return None
    sql, params = compiler.as_sql()
    if not sql:
        raise EmptyResultSet
    alias_map = compiler.query.alias_map

    def named() -> set[str]:
        return {t.table_name for t in alias_map.values() if hasattr(t, "table_name")}

    tables = rt.read_tables(compiler.connection, sql, named)
    if tables is None:
        collect.report((), spoiled=True)
        metrics.count("bypassed")
        return None
    return sql, params, tuple(sorted(tables)), timeout


def install() -> None:
    """Route every read compiler through the cache (idempotent)."""
    sql_compiler.SQLCompiler.execute_sql = execute_sql  # type: ignore[method-assign]


def uninstall() -> None:
    sql_compiler.SQLCompiler.execute_sql = _original  # type: ignore[method-assign]
