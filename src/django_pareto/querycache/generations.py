"""Per-table generation counters in the shared cache: the whole invalidation scheme.

A cached result records the generations of the tables it read, as they were *before* its
query ran, and is stored only if they are still the same after it ran; a write moves the
generation of its tables once it has committed. So a result is served only while no
table it read has changed since it was computed, whatever the interleaving of processes,
and no wall clock decides validity. Counters start at a random value (on Redis: the
server's clock in microseconds), so a counter evicted from the cache and created again
can't come back to a value an old entry was stored under.

Two implementations of the same three operations: one over Django's cache API (any
backend), and one for Django's Redis backend that does each operation in one round trip
with a Lua script, always against the primary (a replica may lag behind a bump).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Iterable
from typing import Any

from django.core.cache import BaseCache

from django_pareto.querycache import metrics
from django_pareto.querycache.sqlinfo import ALL

logger = logging.getLogger("django_pareto.querycache")


_random = random.SystemRandom()  # seeded by the OS: starts differ across processes


def _start() -> int:
    return _random.getrandbits(62)


class Generations:
    """Over Django's cache API: reads in one round trip, a checked store in two."""

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
        """The generations of ``tables`` (ALL first) and the values of ``extra`` keys."""
        keys = [self.key(t) for t in (ALL, *tables)]
        extra = list(extra)
        found = self.cache.get_many(keys + extra)
        missing = [k for k in keys if k not in found]
        if missing:
            for key in missing:
                self.cache.add(key, _start(), None)
            found.update(self.cache.get_many(missing))
        return tuple(int(found[k]) for k in keys), {k: found[k] for k in extra if k in found}

    def store(
        self, key: str, value: Any, timeout: float, tables: Iterable[str], gens: tuple[int, ...]
    ) -> bool:
        """Set ``key`` only if the generations of ``tables`` are still ``gens``."""
        if self.read(tables)[0] != gens:
            return False
        self.cache.set(key, value, timeout)
        return True

    def lock(self, key: str, seconds: int) -> bool:
        """Take ``key`` as a lock that expires by itself; False if someone holds it."""
        return bool(self.cache.add(key, 1, seconds))

    def unlock(self, key: str) -> None:
        self.cache.delete(key)

    def _bump(self, tables: list[str]) -> None:
        for table in tables:
            try:
                self.cache.incr(self.key(table))
            except ValueError:  # not there (never read, or evicted): any new value will do
                self.cache.set(self.key(table), _start(), None)

    def bump(self, tables: Iterable[str]) -> None:
        """Move the generation of each table; a failure is remembered and retried."""
        with self._lock:
            todo = sorted(self._pending | set(tables))
            self._pending = set()
        if not todo:
            return
        try:
            self._bump(todo)
        except Exception as exc:  # the cache is down: keep them to retry, never raise
            metrics.count("faults")
            logger.warning("query cache: invalidating %s failed: %r", ", ".join(todo), exc)
            with self._lock:
                self._pending.update(todo)
            return
        for table in todo:
            metrics.count("invalidations", (table,))

    @property
    def healthy(self) -> bool:
        """False while an invalidation is owed: results may be stale, don't serve them."""
        if not self._pending:
            return True
        self.bump(())
        return not self._pending


# A counter created in Redis starts at the server's clock in microseconds: a counter
# evicted and created again starts above any value the old one reached, unless a table
# was written more than once per microsecond on average (and it fits a Lua number).
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
"""
# KEYS: generation keys (ARGV[1] of them), then the extra keys.
_READ = (
    _NOW
    + """
local n = tonumber(ARGV[1])
local out = {}
for i = 1, n do
  local v = redis.call('GET', KEYS[i])
  if not v then
    redis.call('SET', KEYS[i], now)
    v = now
  end
  out[i] = v
end
for i = n + 1, #KEYS do
  out[i] = redis.call('GET', KEYS[i]) or false
end
return out
"""
)
# KEYS: generation keys, then the entry key; ARGV: expected generations, value, seconds.
_STORE = """
local n = #KEYS - 1
for i = 1, n do
  if redis.call('GET', KEYS[i]) ~= ARGV[i] then return 0 end
end
redis.call('SET', KEYS[n + 1], ARGV[n + 1], 'EX', ARGV[n + 2])
return 1
"""
# KEYS: generation keys.
_BUMP = (
    _NOW
    + """
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('INCR', KEYS[i])
  else
    redis.call('SET', KEYS[i], now)
  end
end
return #KEYS
"""
)


class RedisGenerations(Generations):
    """For Django's ``RedisCache`` with one server: one round trip per operation."""

    def __init__(self, cache: BaseCache, prefix: str) -> None:
        super().__init__(cache, prefix)
        inner = cache._cache  # type: ignore[attr-defined]
        client = inner.get_client(None, write=True)  # the primary: replicas may lag
        self._client = client  # kept: Django's backend builds a client per call
        self._serializer = inner._serializer
        self._gen_keys: dict[str, str] = {}
        self._read = client.register_script(_READ)
        self._store = client.register_script(_STORE)
        self._bump_script = client.register_script(_BUMP)

    @staticmethod
    def usable_with(cache: BaseCache) -> bool:
        from django.core.cache.backends.redis import RedisCache

        return type(cache) is RedisCache and len(cache._servers) == 1  # type: ignore[attr-defined]

    def _full(self, key: str) -> str:
        # Keys are ours and short: no need for Django's per-call validation loop.
        return str(self.cache.make_key(key))

    def _gen_key(self, table: str) -> str:
        found = self._gen_keys.get(table)
        if found is None:
            found = self._gen_keys[table] = self._full(self.key(table))
        return found

    def read(
        self, tables: Iterable[str], extra: Iterable[str] = ()
    ) -> tuple[tuple[int, ...], dict[str, Any]]:
        gen_keys = [self._gen_key(t) for t in (ALL, *tables)]
        extra = list(extra)
        keys = gen_keys + [self._full(k) for k in extra]
        # The usual case, every counter already there, is a plain MGET: cheaper for Redis
        # than running a script. A missing counter has to be created atomically: the script.
        values = self._client.mget(keys)
        if any(v is None for v in values[: len(gen_keys)]):
            values = self._read(keys=keys, args=[len(gen_keys)])
        gens = tuple(int(v) for v in values[: len(gen_keys)])
        found = {
            k: self._serializer.loads(v)
            for k, v in zip(extra, values[len(gen_keys) :], strict=True)
            if v is not None and v is not False
        }
        return gens, found

    def store(
        self, key: str, value: Any, timeout: float, tables: Iterable[str], gens: tuple[int, ...]
    ) -> bool:
        gen_keys = [self._gen_key(t) for t in (ALL, *tables)]
        seconds = max(1, int(self.cache.get_backend_timeout(timeout) or 0) or 1)
        return bool(
            self._store(
                keys=[*gen_keys, self._full(key)],
                args=[*gens, self._serializer.dumps(value), seconds],
            )
        )

    def lock(self, key: str, seconds: int) -> bool:
        return bool(self._client.set(self._full(key), 1, nx=True, ex=seconds))

    def unlock(self, key: str) -> None:
        self._client.delete(self._full(key))

    def _bump(self, tables: list[str]) -> None:
        keys = [self._gen_key(t) for t in tables]
        self._bump_script(keys=keys)


def generations_for(cache: BaseCache, prefix: str) -> Generations:
    if RedisGenerations.usable_with(cache):
        return RedisGenerations(cache, prefix)
    return Generations(cache, prefix)
