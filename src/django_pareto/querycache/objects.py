"""Whole querysets cached as the objects Django built, not only as rows.

A hit at the row level still pays for Django turning rows into model instances; caching
the list ``QuerySet._fetch_all`` builds skips that too. The same generations guard it
(the entry is keyed and checked exactly like a row result). Only where the objects are
self-contained: not with known related objects (a related manager's queryset shares its
instance with the rows), not for models with ``post_init`` receivers (an unpickled
instance doesn't run them), not for named tuples (their class can't be pickled). Those
keep the row-level cache. A queryset with ``prefetch_related`` is cached with its
prefetches done, as one entry, where its tables can be predicted (see ``prefetches``).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import query as django_query
from django.db.models.query import prefetch_related_objects
from django.db.models.signals import post_init

from django_pareto.querycache import collect, metrics, prefetches, results, runtime
from django_pareto.querycache.compiler import plan

_CACHEABLE = (
    django_query.ModelIterable,
    django_query.ValuesIterable,
    django_query.ValuesListIterable,
    django_query.FlatValuesListIterable,
)
_original = django_query.QuerySet._fetch_all


def _eligible(qs: Any) -> bool:
    return (
        qs._result_cache is None
        and runtime.computing_objects.get() is None
        and qs._iterable_class in _CACHEABLE
        and not qs._known_related_objects
        and not post_init.has_listeners(qs.model)
    )


def _fetch_all(self: Any) -> None:
    if _eligible(self) and (rt := runtime.get()) is not None:
        try:
            self._result_cache = _cached_list(self, rt)
        except EmptyResultSet:  # nothing to read: Django's own path answers without SQL
            pass
        except Exception:  # anything unexpected: Django's own path, uncached
            metrics.count("faults")
    _original(self)


def _cached_list(qs: Any, rt: runtime.Runtime) -> list[Any] | None:
    compiler = qs.query.get_compiler(qs.db)
    found = plan(compiler, rt)
    if found is None:
        return None
    sql, params, tables, timeout = found
    connection = connections[qs.db]
    shape: tuple[Any, ...] = ("objects", qs._iterable_class.__name__, qs._fields)
    graph = None
    if qs._prefetch_related_lookups and not qs._prefetch_done:
        graph = prefetches.predict(qs, rt)
        if graph is not None:
            tables = tuple(sorted(graph.tables.union(tables)))
            shape += ("prefetched", graph.key)
    collect.report(tables)
    predicted = frozenset(tables)
    graph_ok = True

    def compute() -> list[Any]:
        nonlocal graph_ok
        # Django's iterable runs the compiler planned above, set up already (its select
        # and klass_info turn rows into objects): compiling twice costs as much as a hit.
        query = qs.query
        query.get_compiler = lambda *args, **kwargs: compiler
        token = runtime.computing_objects.set((compiler, sql, params))
        try:
            objects = list(qs._iterable_class(qs))
        finally:
            runtime.computing_objects.reset(token)
            del query.get_compiler
        if graph is not None:
            # Its queries go to the database: the graph is the one entry to look up and
            # store (the reads still tell the collector their tables, for the check below).
            token = runtime.computing_objects.set(runtime.UNCACHED)
            try:
                with collect.collecting() as reads:
                    prefetch_related_objects(objects, *qs._prefetch_related_lookups)
            finally:
                runtime.computing_objects.reset(token)
            # Read something not predicted (so its generation wasn't checked): not stored.
            graph_ok = not (reads.spoiled or reads.wrote) and reads.tables <= predicted
            if not graph_ok:
                metrics.count("bypassed", tuple(reads.tables - predicted))
        return objects

    key = results.result_key(rt.settings.KEY_PREFIX, qs.db, sql, params, shape)
    max_rows = rt.settings.MAX_ROWS
    value: list[Any] = results.fetch(
        rt,
        key,
        tables,
        timeout,
        compute,
        rt.can_store(connection),
        lambda v: len(v) <= max_rows and graph_ok,
    )
    if graph is not None:
        qs._prefetch_done = True
    return value


def install() -> None:
    django_query.QuerySet._fetch_all = _fetch_all  # type: ignore[method-assign]
