"""The query cache under test: on SQLite and PostgreSQL, with locmem and Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from django_pareto.querycache import metrics

ALIASES = ["default", "postgres"]


@pytest.fixture(params=ALIASES)
def alias(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        request.getfixturevalue("postgres_alias")
    return str(request.param)


@pytest.fixture(params=["locmem", "redis"])
def cache_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "qc"}


@pytest.fixture
def querycache(settings: Any, cache_config: dict[str, Any]) -> Callable[..., None]:
    """Configure the query cache for the test (a key prefix of its own: no flushing of a
    shared Redis database); call it again to change settings."""
    prefix = f"test:{uuid.uuid4().hex[:8]}"

    def configure(**options: Any) -> None:
        settings.CACHES = {**settings.CACHES, "qc": cache_config}
        settings.PARETO_QUERYCACHE = {"CACHE": "qc", "KEY_PREFIX": prefix, **options}
        metrics.reset()

    configure()
    return configure


@pytest.fixture
def queries() -> Callable[[str], CaptureQueriesContext]:
    """``with queries(alias) as ran:``; afterwards ``len(ran)`` statements reached the
    database in the block."""
    return lambda alias: CaptureQueriesContext(connections[alias])
