"""Which external services (PostgreSQL, Redis) the suite can reach."""

from __future__ import annotations

import os
import socket

import pytest

# In CI a test that needs a service must not skip silently: it fails instead.
REQUIRE_SERVICES = os.environ.get("PARETO_REQUIRE_SERVICES") == "1"
REDIS_URL = os.environ.get("PARETO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def postgres_available(dsn: dict[str, str]) -> bool:
    if not _port_open(dsn["HOST"], int(dsn["PORT"])):
        return False
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return False
    return True


def redis_available() -> bool:
    try:
        import redis
    except ImportError:
        return False
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except Exception:
        return False


def skip_or_fail(reason: str) -> None:
    """Skip a test needing a missing service, or fail when CI requires the service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (PARETO_REQUIRE_SERVICES=1 turns this skip into a failure)")
    pytest.skip(reason)
