"""Per-table generation counters in the shared cache: the whole invalidation scheme.

A cached result records the generations of the tables it read, as they were *before* its
query ran, and is stored only if they are still the same after it ran; a write moves the
generation of its tables once it has committed. So a result is served only while no
table it read has changed since it was computed, whatever the interleaving of processes,
and no wall clock is involved. Counters start at a random value: a counter evicted from
the cache and created again can't come back to a value an old entry was stored under.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterable
from typing import Any

from django.core.cache import BaseCache

from django_pareto.querycache import metrics
from django_pareto.querycache.sqlinfo import ALL

logger = logging.getLogger("django_pareto.querycache")


def _start() -> int:
    return secrets.randbits(62)


class Generations:
    def __init__(self, cache: BaseCache, prefix: str) -> None:
        self.cache = cache
        self.prefix = prefix
        # Bumps that failed (cache unreachable): retried before the cache serves anything
        # again from this process, and until then this process doesn't use the cache.
        self._pending: set[str] = set()
        self._lock = threading.Lock()

    def key(self, table: str) -> str:
        return f"{self.prefix}:g:{table}"

    def read(
        self, tables: Iterable[str], extra: Iterable[str] = ()
    ) -> tuple[tuple[int, ...], dict[str, Any]]:
        """The generations of ``tables`` (ALL first) and the values of ``extra`` keys, in one
        round trip (two when a counter has to be created)."""
        names = (ALL, *tables)
        keys = [self.key(t) for t in names]
        extra = list(extra)
        found = self.cache.get_many(keys + extra)
        missing = [k for k in keys if k not in found]
        if missing:
            for key in missing:
                self.cache.add(key, _start(), None)
            found.update(self.cache.get_many(missing))
        return tuple(int(found[k]) for k in keys), {k: found[k] for k in extra if k in found}

    def bump(self, tables: Iterable[str]) -> None:
        """Move the generation of each table; a failure is remembered and retried."""
        with self._lock:
            todo = self._pending | set(tables)
            self._pending = set()
        failed = set()
        for table in sorted(todo):
            try:
                try:
                    self.cache.incr(self.key(table))
                except ValueError:  # not there (never read, or evicted): any new value will do
                    self.cache.set(self.key(table), _start(), None)
            except Exception as exc:  # the cache is down: keep it to retry, never raise
                failed.add(table)
                metrics.count("faults")
                logger.warning("query cache: invalidating %s failed: %r", table, exc)
        for table in todo - failed:
            metrics.count("invalidations", (table,))
        if failed:
            with self._lock:
                self._pending |= failed

    @property
    def healthy(self) -> bool:
        """False while an invalidation is owed: results may be stale, don't serve them."""
        if not self._pending:
            return True
        self.bump(())
        return not self._pending
