"""Data-aware caching of anything rendered from the database: pages and fragments.

What a render reads is only known once it has run, so each cached thing learns its
tables: the first render records them, later renders read their generations *before*
rendering and store the output only if they are unchanged after it (the same rule as for
query results). A render that reads a table not learned yet stores nothing and widens
what is learned; one whose reads can't be known (volatile SQL, views) is never stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from django_pareto.querycache import collect, metrics, runtime

logger = logging.getLogger("django_pareto.querycache")


class Rendered(NamedTuple):
    tables: tuple[str, ...]
    generations: tuple[int, ...]  # of ``tables``, in order, ALL first
    value: Any


def lookup(rt: runtime.Runtime, key: str | None, learned_key: str) -> tuple[Any, Any]:
    """(the cached value or None, the state to hand to ``store``)."""
    learned: tuple[str, ...] = rt.cache.get(learned_key) or ()
    gens, found = rt.generations.read(learned, (key,) if key else ())
    current = dict(zip(("*", *learned), gens, strict=True))
    entry: Rendered | None = found.get(key) if key else None
    if (
        entry is not None
        and all(t in current for t in entry.tables)
        and tuple(current[t] for t in ("*", *entry.tables)) == entry.generations
    ):
        metrics.count("hits", entry.tables)
        collect.report(entry.tables)
        return entry.value, None
    metrics.count("misses", learned)
    return None, (learned, current)


def render(
    rt: runtime.Runtime,
    state: Any,
    produce: Callable[[], Any],
    learned_key: str,
    key_for: Callable[[Any], str | None],
    timeout: float,
) -> Any:
    """Run ``produce`` and store its value under ``key_for(value)`` when that is safe."""
    learned, before = state
    with collect.collecting() as reads:
        value = produce()
    try:
        _store(rt, reads, learned, before, value, learned_key, key_for, timeout)
    except Exception as exc:  # a failing cache never fails the page
        metrics.count("faults")
        logger.warning("query cache: storing a page failed: %r", exc)
    return value


def _store(
    rt: runtime.Runtime,
    reads: collect.Reads,
    learned: tuple[str, ...],
    before: dict[str, int],
    value: Any,
    learned_key: str,
    key_for: Callable[[Any], str | None],
    timeout: float,
) -> None:
    if reads.spoiled or reads.wrote:
        metrics.count("bypassed", tuple(reads.tables))
        return
    tables = tuple(sorted(reads.tables))
    if not set(tables) <= set(learned):
        rt.cache.set(learned_key, tuple(sorted(set(learned) | set(tables))), None)
        return  # its generations were not read before it ran: store from the next render
    gens = tuple(before[t] for t in ("*", *tables))
    key = key_for(value)
    if key is None:
        return
    if rt.generations.store(key, Rendered(tables, gens, value), timeout, tables, gens):
        metrics.count("stores", tables)
    else:
        metrics.count("refused", tables)
