"""Counters of the query cache in this process: hits, misses, refused stores, invalidations.

Plain integers under the GIL: a lost increment under contention would skew a counter by
one, which is acceptable for metrics and cheaper than a lock on every read.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

EVENTS = (
    "hits",  # served from the cache
    "misses",  # computed by the database (and stored when allowed)
    "stores",  # results written to the cache
    "refused",  # not stored: a table it read was written while it ran
    "bypassed",  # not looked up: its transaction wrote, or it is not cacheable
    "invalidations",  # generation bumps (one per table per write, or per commit)
    "faults",  # the cache backend failed; the database answered
)

_totals: Counter[str] = Counter()
_per_table: dict[str, Counter[str]] = {}


def count(event: str, tables: tuple[str, ...] | frozenset[str] = (), n: int = 1) -> None:
    _totals[event] += n
    for table in tables:
        counter = _per_table.get(table)
        if counter is None:
            counter = _per_table[table] = Counter()
        counter[event] += n


def snapshot() -> dict[str, Any]:
    """Totals and per-table counters, e.g. ``{"hits": 10, ..., "tables": {"blog_tag": {...}}}``."""
    data: dict[str, Any] = {event: _totals[event] for event in EVENTS}
    lookups = data["hits"] + data["misses"]
    data["hit_rate"] = data["hits"] / lookups if lookups else 0.0
    data["tables"] = {t: dict(c) for t, c in sorted(_per_table.items())}
    return data


def reset() -> None:
    _totals.clear()
    _per_table.clear()
