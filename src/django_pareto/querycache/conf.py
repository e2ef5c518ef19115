"""One typed view of the ``PARETO_QUERYCACHE`` setting.

PARETO_QUERYCACHE = {
    "CACHE": "default",       # the Django cache for results and generations (Redis in production)
    "MODE": "opt-in",         # "opt-in": .cache() / cached() / MODELS; "all": every ORM read
    "MODELS": [],             # "app_label.Model": reads of these models are cached in opt-in mode
    "EXCLUDE_MODELS": [],     # never cached, whatever the mode
    "DATABASES": None,        # aliases whose reads are cached (None: all)
    "TIMEOUT": 300,           # seconds: the backstop that keeps memory bounded
    "MAX_ROWS": 10000,        # larger results are not stored
    "LOCK_MIN_MS": 20.0,      # recomputations costlier than this run one at a time
    "EARLY_REFRESH": 0.0,     # beta of probabilistic early refresh (0 = off, 1 = the usual)
    "KEY_PREFIX": "pareto:qc",
}
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MODES = ("opt-in", "all")


@dataclass(frozen=True)
class QueryCacheSettings:
    CACHE: str = "default"
    MODE: str = "opt-in"
    MODELS: tuple[str, ...] = field(default=())
    EXCLUDE_MODELS: tuple[str, ...] = field(default=())
    DATABASES: tuple[str, ...] | None = None
    TIMEOUT: float = 300
    MAX_ROWS: int = 10000
    # Below this a stampede of recomputations costs the database less than the lock's two
    # round trips and the waiting cost the readers.
    LOCK_MIN_MS: float = 20.0
    EARLY_REFRESH: float = 0.0
    KEY_PREFIX: str = "pareto:qc"


def load() -> QueryCacheSettings:
    raw: dict[str, Any] = dict(getattr(settings, "PARETO_QUERYCACHE", {}) or {})
    known = {f.name for f in fields(QueryCacheSettings)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ImproperlyConfigured(
            f"PARETO_QUERYCACHE has unknown key(s) {', '.join(unknown)}; "
            f"known keys: {', '.join(sorted(known))}"
        )
    if raw.get("MODE", "opt-in") not in MODES:
        raise ImproperlyConfigured(
            f"PARETO_QUERYCACHE['MODE'] must be one of {', '.join(MODES)}, got {raw['MODE']!r}"
        )
    for key in ("MODELS", "EXCLUDE_MODELS", "DATABASES"):
        if raw.get(key) is not None:
            raw[key] = tuple(raw[key])
    if float(raw.get("TIMEOUT", 300)) <= 0:
        raise ImproperlyConfigured("PARETO_QUERYCACHE['TIMEOUT'] must be a positive number")
    return QueryCacheSettings(**raw)


_cached: QueryCacheSettings | None = None


def get() -> QueryCacheSettings:
    global _cached
    if _cached is None:
        _cached = load()
    return _cached


def reset(**_: object) -> None:
    """Forget the cached settings (connected to ``setting_changed``)."""
    global _cached
    _cached = None
