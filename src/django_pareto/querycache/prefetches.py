"""What a queryset's ``prefetch_related`` will read, known before it runs.

A queryset with prefetches is cached as the whole graph (the objects with their
prefetched relations filled in), so that a hit costs one round trip instead of one per
lookup. Its entry is guarded like any other by the generations of its tables, and those
have to be read before anything runs: so they are predicted here from the models (the
related model of each step, its parents, the through table of a many-to-many, the tables
of a ``Prefetch`` queryset). The prediction is checked after the fact: a computation that
read anything else (a custom manager joining another table, a content type looked up) is
not stored, so a wrong guess costs a miss, never a stale graph.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet, FieldDoesNotExist
from django.db.models import Model, Prefetch
from django.db.models.constants import LOOKUP_SEP
from django.db.models.fields.reverse_related import ForeignObjectRel
from django.db.models.signals import post_init

from django_pareto.querycache import runtime
from django_pareto.querycache.compiler import plan


@dataclass(frozen=True)
class Graph:
    tables: frozenset[str]
    key: tuple[Any, ...]  # tells graphs of the same main query apart


def _tables_of(model: type[Model]) -> set[str]:
    return {m._meta.db_table for m in (model, *model._meta.get_parent_list())}


@functools.lru_cache(maxsize=1024)  # looked up on every read of the queryset, hits too
def _walk(model: type[Model], path: str) -> tuple[frozenset[str], tuple[type[Model], ...]] | None:
    """The tables read by prefetching ``path`` from ``model``, and the models built."""
    tables: set[str] = set()
    models: list[type[Model]] = []
    for part in path.split(LOOKUP_SEP):
        try:
            field: Any = model._meta.get_field(part)
        except FieldDoesNotExist:  # a to_attr, a property: not predictable from models
            return None
        related = getattr(field, "related_model", None)
        if not field.is_relation or not isinstance(related, type):
            return None  # a generic foreign key: its models are only known from the rows
        rel = field if isinstance(field, ForeignObjectRel) else field.remote_field
        through = getattr(rel, "through", None)
        if through is not None:
            tables.add(through._meta.db_table)
        tables |= _tables_of(related)
        models.append(related)
        model = related
    return frozenset(tables), tuple(models)


def _queryset_part(qs: Any, inner: Any, rt: runtime.Runtime) -> tuple[Any, ...] | None:
    """The tables a ``Prefetch`` queryset reads and what tells it apart, as the cache
    plans it; None when it isn't cacheable itself."""
    if inner._prefetch_related_lookups:
        return None
    try:
        found = plan(inner.query.get_compiler(qs.db), rt)
    except EmptyResultSet:
        return (frozenset(), "", "", inner._iterable_class.__name__)
    if found is None:
        return None
    sql, params, tables, _ = found
    return (frozenset(tables), sql, repr(params), inner._iterable_class.__name__)


def predict(qs: Any, rt: runtime.Runtime) -> Graph | None:
    """The graph of ``qs``'s prefetches, or None when it can't be cached as a whole."""
    tables: set[str] = set()
    models: list[type[Model]] = []
    key: list[Any] = []
    for lookup in qs._prefetch_related_lookups:
        if isinstance(lookup, Prefetch):
            path, part = lookup.prefetch_through, (lookup.prefetch_to,)
            if lookup.queryset is not None:
                found = _queryset_part(qs, lookup.queryset, rt)
                if found is None:
                    return None
                tables |= found[0]
                part += found[1:]
        elif isinstance(lookup, str):
            path, part = lookup, (lookup,)
        else:
            return None
        walked = _walk(qs.model, path)
        if walked is None:
            return None
        tables |= walked[0]
        models += walked[1]
        key.append(part)
    excluded = rt.settings.EXCLUDE_MODELS
    if any(post_init.has_listeners(m) or m._meta.label in excluded for m in models):
        return None  # an unpickled instance wouldn't run its receivers; excluded: never cached
    return Graph(frozenset(tables), tuple(key))
