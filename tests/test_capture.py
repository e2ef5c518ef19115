"""Capture inside real requests, on a real database: what is recorded per request and query."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client

from django_pareto.store import Store
from tests.testapp.models import Author, Book

pytestmark = pytest.mark.django_db


def requests_of(store: Store, run: str = "test") -> list:
    return store.request_rows(run)


@pytest.mark.parametrize("k", [0, 1, 7, 20])
def test_a_view_with_k_queries_shows_k_per_request(
    client: Client, recorded: Callable[[], Store], k: int
) -> None:
    assert client.get(f"/k/{k}/").status_code == 200
    (row,) = requests_of(recorded())
    assert row.query_count == k
    assert row.endpoint == "GET /k/<int:k>/"
    assert row.status == 200
    assert row.duration_ms >= row.db_ms >= 0
    groups = recorded().query_groups("test")
    assert sum(g.calls for g in groups) == k


def test_raw_sql_and_cursor_queries_are_captured(
    client: Client, recorded: Callable[[], Store]
) -> None:
    Author.objects.create(name="a")
    client.get("/raw/")
    client.get("/cursor/")
    sqls = {g.sql for g in recorded().query_groups("test")}
    assert "SELECT id, name FROM testapp_author" in sqls
    assert "SELECT COUNT(*) FROM testapp_book WHERE pages > %s" in sqls


def test_n_plus_one_is_one_fingerprint_from_one_call_site(
    client: Client, recorded: Callable[[], Store]
) -> None:
    author = Author.objects.create(name="Ann")
    Book.objects.bulk_create(Book(author=author, title=f"b{i}") for i in range(6))
    client.get(f"/books/by-author/{author.pk}/")
    groups = recorded().query_groups("test")
    by_table = {g.tables: g for g in groups}
    author_lookup = by_table[("testapp_author",)]
    assert author_lookup.calls == 6
    assert author_lookup.callsite is not None
    assert author_lookup.callsite.startswith("tests/testapp/views.py:")
    assert author_lookup.callsite.endswith("in <listcomp>") or "book_list" in author_lookup.callsite
    assert author_lookup.endpoint == "GET /books/by-author/<int:author_id>/"


def test_queries_run_by_a_template_point_at_the_template_line(
    client: Client, recorded: Callable[[], Store]
) -> None:
    author = Author.objects.create(name="Ann")
    Book.objects.bulk_create(Book(author=author, title=f"b{i}") for i in range(4))
    client.get(f"/books/page/{author.pk}/")
    sites = {g.tables: (g.callsite, g.calls) for g in recorded().query_groups("test")}
    template = "tests/testapp/templates/testapp/books.html"
    assert sites[("testapp_book",)] == (f"{template}:2 in <template>", 1)  # {% for %}
    assert sites[("testapp_author",)] == (f"{template}:3 in <template>", 4)  # book.author


def test_the_same_sql_from_two_places_gets_both_call_sites(
    client: Client, recorded: Callable[[], Store]
) -> None:
    author = Author.objects.create(name="Ann")
    for _ in range(3):  # the call site depth is remembered per SQL: it must not stick
        client.get(f"/books/twice/{author.pk}/")
    sites = {g.callsite: g.calls for g in recorded().query_groups("test")}
    assert sites == {
        "tests/testapp/views.py:50 in same_sql_two_places": 3,
        "tests/testapp/templates/testapp/titles.html:1 in <template>": 3,
    }


@pytest.mark.parametrize(
    ("path", "endpoint", "view_name"),
    [
        ("/books/titled/x/", "GET /books/titled/<str:title>/", "books:titled"),
        ("/books/by-author/3/", "GET /books/by-author/<int:author_id>/", "books:by-author"),
        ("/legacy/4/", "GET /legacy/(?P<k>[0-9]+)/$", "legacy"),
        ("/cursor/", "GET /cursor/", "tests.testapp.views.cursor_sql"),
        ("/nowhere/", "GET <unresolved>", ""),
    ],
)
def test_endpoint_is_the_route_not_the_path(
    client: Client, recorded: Callable[[], Store], path: str, endpoint: str, view_name: str
) -> None:
    client.get(path)
    (row,) = requests_of(recorded())
    assert row.endpoint == endpoint


def test_a_failing_view_is_recorded_as_500(recorded: Callable[[], Store]) -> None:
    client = Client(raise_request_exception=False)
    assert client.get("/boom/").status_code == 500
    (row,) = requests_of(recorded())
    assert (row.status, row.query_count) == (500, 1)


def test_post_is_a_separate_endpoint(client: Client, recorded: Callable[[], Store]) -> None:
    Author.objects.create(name="a")
    client.post("/books/new/", {"title": "t"})
    (row,) = requests_of(recorded())
    assert row.endpoint == "POST /books/new/"
    assert row.query_count == 2


def test_async_views_are_captured(recorded: Callable[[], Store]) -> None:
    response = async_to_sync(AsyncClient().get)("/async/")
    assert response.status_code == 200
    (row,) = requests_of(recorded())
    assert (row.endpoint, row.query_count) == ("GET /async/", 1)


def test_unsampled_requests_keep_their_counts_but_no_query_detail(
    client: Client, recorded: Callable[[], Store], settings: object, store_path: object
) -> None:
    settings.PARETO = {"STORE": str(store_path), "RUN": "test", "SAMPLE_RATE": 0.0}  # type: ignore[attr-defined]
    for _ in range(3):
        client.get("/k/4/")
    store = recorded()
    assert [r.query_count for r in store.request_rows("test")] == [4, 4, 4]
    assert store.query_groups("test") == []


def test_sampled_requests_stand_for_the_unsampled_ones(
    client: Client, recorded: Callable[[], Store], settings: object, store_path: object
) -> None:
    import random

    settings.PARETO = {"STORE": str(store_path), "RUN": "test", "SAMPLE_RATE": 0.5}  # type: ignore[attr-defined]
    random.seed(1)
    for _ in range(40):
        client.get("/k/2/")
    store = recorded()
    sampled = store._execute("SELECT COUNT(*) FROM pareto_request WHERE sampled")[0][0]
    assert 0 < sampled < 40
    (group,) = store.query_groups("test")
    assert group.calls == sampled * 2 * 2  # two queries each, weight 1 / 0.5


def test_ignored_paths_are_not_captured(client: Client, recorded: Callable[[], Store]) -> None:
    client.get("/static/x.css")
    client.get("/k/1/")
    assert [r.endpoint for r in recorded().request_rows("test")] == ["GET /k/<int:k>/"]
