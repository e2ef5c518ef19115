from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from django_pareto.capture import health
from django_pareto.capture.writer import get_writer
from django_pareto.load.model import Target
from django_pareto.store import Store, open_store
from tests.services import redis_available, skip_or_fail


@pytest.fixture
def store_path(tmp_path: Path, settings: object) -> Iterator[Path]:
    """A fresh embedded store for the test; PARETO points at it."""
    path = tmp_path / "store.sqlite3"
    settings.PARETO = {"STORE": str(path), "RUN": "test"}  # type: ignore[attr-defined]
    health.reset()
    yield path
    get_writer().flush()


@pytest.fixture
def recorded(store_path: Path) -> Callable[[], Store]:
    """Call it after requests: waits until the writer has written, returns the store."""

    def read() -> Store:
        assert get_writer().flush(), "the background writer did not drain"
        return open_store()

    return read


@pytest.fixture
def postgres_alias() -> str:
    if "postgres" not in connections:
        skip_or_fail("PostgreSQL is not reachable at PGHOST:PGPORT (default 127.0.0.1:5432)")
    return "postgres"


@pytest.fixture
def redis_url() -> str:
    from tests.services import REDIS_URL

    if not redis_available():
        skip_or_fail(f"Redis is not reachable at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture
def site_server(live_server: Any) -> Target:
    """Where pytest-django's live server of the test project listens, as a load target
    (tests that use it need ``transactional_db``)."""
    from django_pareto.load.model import parse_target

    return parse_target(live_server.url)
