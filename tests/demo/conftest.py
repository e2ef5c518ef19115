"""Fixtures of the demo-site tests: a small seeded database shared by a module."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from blog.seed import counts_of, wipe

SCALE = 0.05  # 50 users, 400 articles: big enough for skew, small enough to be fast
SEED = 7


@pytest.fixture(autouse=True)
def _no_capture(settings: Any) -> None:
    """These tests exercise the demo site itself, not django-pareto's capture."""
    settings.PARETO = {"ENABLED": False}


@pytest.fixture(scope="module")
def seeded(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict[str, int]]:
    """Seed once per module (committed); each test still runs in its own transaction."""
    with django_db_blocker.unblock():
        call_command("seed", scale=SCALE, seed=SEED, force=True, stdout=io.StringIO())
        try:
            yield counts_of()
        finally:
            wipe()


@pytest.fixture
def demo_user(seeded: dict[str, int]) -> Any:
    return get_user_model().objects.get(username="demo")
