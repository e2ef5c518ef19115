"""Runs recorded through the capture middleware, and users of each kind, for the dashboard."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from django_pareto.store import Store
from tests.testapp.models import Author, Book

Recorder = Callable[[str, list[str]], Store]


@pytest.fixture
def record_run(store_path: Path, settings: Any, recorded: Callable[[], Store]) -> Recorder:
    """Record GET requests to ``paths`` as run ``run`` through the capture middleware."""

    def record(run: str, paths: list[str]) -> Store:
        settings.PARETO = {"STORE": str(store_path), "RUN": run}
        client = Client()  # a new one: its middleware reads PARETO when it is first used
        for path in paths:
            assert client.get(path).status_code == 200, path
        return recorded()

    return record


@pytest.fixture
def two_runs(record_run: Recorder) -> tuple[str, str]:
    """Runs "before" (with an N+1, so the doctor has a finding) and "after"."""
    author = Author.objects.create(name="Ann")
    Book.objects.bulk_create(Book(author=author, title=f"b{i}") for i in range(6))
    book_list = f"/books/by-author/{author.pk}/"
    record_run("before", [book_list, book_list, "/k/3/", "/k/1/"])
    record_run("after", [book_list, "/k/1/", "/raw/"])
    return "before", "after"


@pytest.fixture
def user_factory(django_user_model: Any) -> Callable[..., Any]:
    def make(name: str, **flags: bool) -> Any:
        return django_user_model.objects.create_user(name, password="pw-" + name, **flags)

    return make


@pytest.fixture
def staff_client(user_factory: Callable[..., Any]) -> Client:
    client = Client()
    client.force_login(user_factory("staff", is_staff=True))
    return client


@pytest.fixture
def user_client(user_factory: Callable[..., Any]) -> Client:
    client = Client()
    client.force_login(user_factory("visitor"))
    return client
