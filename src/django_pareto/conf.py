"""One typed view of the ``PARETO`` setting.

PARETO = {
    "ENABLED": True,          # capture requests at all
    "RUN": "live",            # name of the run that captured requests go to
    "SAMPLE_RATE": 1.0,       # share of requests whose queries are recorded in detail
    "STORE": None,            # embedded SQLite store (default BASE_DIR/.pareto/pareto.sqlite3)
    "STORE_ALIAS": None,      # or: a Django database alias for a shared PostgreSQL store
    "RECORD_PARAMS": False,   # store SQL parameters (user data!) with query events
    "MAX_QUERIES_PER_REQUEST": 1000,  # detail kept per request; the rest are only counted
    "QUEUE_SIZE": 10000,      # requests waiting to be written; beyond: dropped and counted
    "IGNORE_PATHS": ["/static/", "/media/", "/favicon.ico"],
    "RETENTION_DAYS": 30,     # requests older than this are pruned by the writer; None keeps all
    "ANALYZERS": [...],       # dotted paths of the doctor's analyzers (the built-ins by default)
    "N_PLUS_ONE_THRESHOLD": 5,  # executions from one call site in one request that make an N+1
    "SERVER_TIMING": True,    # a Server-Timing header (db, total, queries) on captured responses
}
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from django_pareto.analyze.base import BUILTIN_ANALYZERS


@dataclass(frozen=True)
class ParetoSettings:
    ENABLED: bool = True
    RUN: str = "live"
    SAMPLE_RATE: float = 1.0
    STORE: str | None = None
    STORE_ALIAS: str | None = None
    RECORD_PARAMS: bool = False
    MAX_QUERIES_PER_REQUEST: int = 1000
    QUEUE_SIZE: int = 10000
    IGNORE_PATHS: tuple[str, ...] = field(default=("/static/", "/media/", "/favicon.ico"))
    RETENTION_DAYS: float | None = 30
    ANALYZERS: tuple[str, ...] = field(default=BUILTIN_ANALYZERS)
    N_PLUS_ONE_THRESHOLD: int = 5
    SERVER_TIMING: bool = True

    @property
    def store_path(self) -> Path:
        """Where the embedded store lives: never inside the application's own database."""
        if self.STORE:
            return Path(self.STORE)
        base = getattr(settings, "BASE_DIR", None)
        return Path(base if base is not None else os.getcwd()) / ".pareto" / "pareto.sqlite3"


def load() -> ParetoSettings:
    raw: dict[str, Any] = dict(getattr(settings, "PARETO", {}) or {})
    known = {f.name for f in fields(ParetoSettings)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ImproperlyConfigured(
            f"PARETO has unknown key(s) {', '.join(unknown)}; "
            f"known keys: {', '.join(sorted(known))}"
        )
    for key in ("IGNORE_PATHS", "ANALYZERS"):
        if key in raw:
            raw[key] = tuple(raw[key])
    rate = float(raw.get("SAMPLE_RATE", 1.0))
    if not 0.0 <= rate <= 1.0:
        raise ImproperlyConfigured(f"PARETO['SAMPLE_RATE'] must be between 0 and 1, got {rate}")
    # The environment lets `pareto record --run` and deployments name the run without
    # editing settings.
    if os.environ.get("PARETO_RUN"):
        raw["RUN"] = os.environ["PARETO_RUN"]
    if os.environ.get("PARETO_STORE"):
        raw["STORE"] = os.environ["PARETO_STORE"]
    return ParetoSettings(**raw)


_cached: ParetoSettings | None = None


def get() -> ParetoSettings:
    global _cached
    if _cached is None:
        _cached = load()
    return _cached


def override(value: ParetoSettings | None) -> None:
    """Use ``value`` instead of the settings (``pareto record`` names its run this way)."""
    global _cached
    _cached = value


def reset(**_: object) -> None:
    """Forget the cached settings (connected to ``setting_changed`` for tests)."""
    global _cached
    _cached = None
