"""Faults of capture and of the store: counted, logged (rate-limited), never raised.

A failure here must never break or slow a request of the user's site, so every guarded
block ends in ``record_fault`` instead of an exception.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

logger = logging.getLogger("django_pareto")

_LOG_INTERVAL_S = 60.0
_lock = threading.Lock()
_faults: Counter[str] = Counter()
_dropped: Counter[str] = Counter()
_last_logged: dict[str, float] = {}
_last_error: dict[str, str] = {}


def record_fault(kind: str, exc: BaseException | str) -> None:
    """Count a fault of ``kind`` ("capture", "store", ...) and log it at most once a minute."""
    message = str(exc)
    with _lock:
        _faults[kind] += 1
        _last_error[kind] = message
        now = time.monotonic()
        should_log = now - _last_logged.get(kind, -_LOG_INTERVAL_S) >= _LOG_INTERVAL_S
        if should_log:
            _last_logged[kind] = now
    if should_log:
        logger.warning("django-pareto %s fault (requests are unaffected): %s", kind, message)


def record_dropped(kind: str, count: int = 1) -> None:
    """Count data deliberately dropped to keep memory bounded (a full queue, say)."""
    with _lock:
        _dropped[kind] += count


def snapshot() -> dict[str, object]:
    """Faults and drops counted in this process since it started (or since ``reset``)."""
    with _lock:
        return {
            "faults": dict(_faults),
            "dropped": dict(_dropped),
            "last_error": dict(_last_error),
        }


def reset() -> None:
    with _lock:
        _faults.clear()
        _dropped.clear()
        _last_logged.clear()
        _last_error.clear()
