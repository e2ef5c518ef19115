"""A live server of the test project for the load tests.

It is pytest-django's ``LiveServer``, started while ``STATIC_URL`` is set: the test
settings leave it None, and Django's live-server handler (built when the server starts)
then fails every request with a TypeError. Import the fixture into a test module
(``from tests.load.live import site_server  # noqa: F401``) and request it by name.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test.utils import override_settings
from pytest_django.live_server_helper import LiveServer

from django_pareto.load.model import Target


@pytest.fixture(scope="session")
def site_server(django_db_setup: None) -> Iterator[Target]:
    """Where the live server listens; tests that use it need ``transactional_db``."""
    with override_settings(STATIC_URL="/static/"):
        server = LiveServer("localhost")
    yield Target("localhost", server.thread.port)
    server.stop()
