"""Look up a read's result, or compute it and store it only if nothing it read changed.

An entry holds the generations its tables had before its query ran; it is served only
while they are unchanged, so the entry's key need not carry them and a lookup costs one
round trip (generations and entry together). A costly result whose entry went stale is
recomputed by one process at a time while the others wait for it (stampede protection);
with ``EARLY_REFRESH`` a still-valid entry close to its expiry is refreshed early by one
process, the others keep being served (probabilistic early expiration).
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from django_pareto.querycache import metrics
from django_pareto.querycache.runtime import Runtime

# How long a process waits for another one recomputing the same result, in multiples of
# the recomputation's own duration, before it gives up and queries the database itself.
WAIT_FACTOR = 2.0
WAIT_STEPS = 8


class Entry(NamedTuple):
    generations: tuple[int, ...]
    value: Any
    expires_at: float  # wall clock: only for early refresh, never for validity
    compute_ms: float


def result_key(prefix: str, alias: str, sql: str, params: Any, shape: tuple[Any, ...]) -> str:
    text = f"{sql}\x00{params!r}\x00{shape!r}"
    digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    return f"{prefix}:r:{alias}:{digest}"


def fetch(
    runtime: Runtime,
    key: str,
    tables: tuple[str, ...],
    timeout: float,
    compute: Callable[[], Any],
    store: bool,
    keep: Callable[[Any], bool] | None = None,
) -> Any:
    """The cached value of ``key`` (depending on ``tables``), or ``compute()``'s.

    A failing cache never fails the read: the database answers and the fault is counted.
    """
    settings = runtime.settings
    locked = False
    try:
        gens, found = runtime.generations.read(tables, (key,))
        entry: Entry | None = found.get(key)
        if entry is not None and entry.generations == gens:
            if not _refresh_early(entry, settings.EARLY_REFRESH):
                metrics.count("hits", tables)
                return entry.value
            locked = _lock(runtime, key, entry)
            if not locked:  # another process refreshes it; this one is still valid
                metrics.count("hits", tables)
                return entry.value
        elif entry is not None and store and entry.compute_ms >= settings.LOCK_MIN_MS:
            locked = _lock(runtime, key, entry)
            if not locked:
                waited = _wait(runtime, key, tables, entry.compute_ms)
                if waited is not None:
                    metrics.count("hits", tables)
                    return waited.value
                gens = runtime.generations.read(tables)[0]
    except Exception:
        metrics.count("faults")
        return compute()
    metrics.count("misses", tables)
    started = time.perf_counter()
    value = compute()
    elapsed_ms = (time.perf_counter() - started) * 1000
    try:
        if store and (keep is None or keep(value)):
            _store(runtime, key, tables, gens, value, elapsed_ms, timeout)
        if locked:
            runtime.generations.unlock(_lock_key(key))
    except Exception:
        metrics.count("faults")
    return value


def _store(
    runtime: Runtime,
    key: str,
    tables: tuple[str, ...],
    gens: tuple[int, ...],
    value: Any,
    elapsed_ms: float,
    timeout: float,
) -> None:
    entry = Entry(gens, value, time.time() + timeout, elapsed_ms)
    if runtime.generations.store(key, entry, timeout, tables, gens):
        metrics.count("stores", tables)
    else:  # a write committed while the query ran: its result may be old
        metrics.count("refused", tables)


def _lock_key(key: str) -> str:
    return f"{key}:lock"


def _lock(runtime: Runtime, key: str, entry: Entry) -> bool:
    """Become the one process that recomputes ``key`` (the lock expires by itself)."""
    seconds = max(1, math.ceil(entry.compute_ms * WAIT_FACTOR * 2 / 1000))
    return runtime.generations.lock(_lock_key(key), seconds)


def _wait(runtime: Runtime, key: str, tables: tuple[str, ...], compute_ms: float) -> Entry | None:
    """Poll for the valid entry another process is computing."""
    step = compute_ms * WAIT_FACTOR / WAIT_STEPS / 1000
    for _ in range(WAIT_STEPS):
        time.sleep(step)
        gens, found = runtime.generations.read(tables, (key,))
        entry: Entry | None = found.get(key)
        if entry is not None and entry.generations == gens:
            return entry
    return None


def _refresh_early(entry: Entry, beta: float) -> bool:
    """XFetch: refresh with a probability that rises as expiry nears, sooner for costly
    results (Vattani, Chierichetti and Lowenstein, 2015)."""
    if beta <= 0:
        return False
    jitter = -math.log(1.0 - random.random())
    return time.time() + entry.compute_ms / 1000 * beta * jitter >= entry.expires_at
