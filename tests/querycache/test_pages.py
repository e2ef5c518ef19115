"""``@cache_view`` and ``{% cachefragment %}``: served until a table they read changes."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.qc_app.models import Post, Tag

pytestmark = pytest.mark.django_db(transaction=True)


def get(client: Client, path: str, queries: Any) -> tuple[str, int]:
    with queries("default") as ran:
        response = client.get(path)
    assert response.status_code == 200
    return response.content.decode(), len(ran)


def test_a_page_is_served_until_a_table_it_read_changes(querycache: Any, queries: Any) -> None:
    Tag.objects.create(name="a")
    Post.objects.create(title="hello")
    client = Client()
    first, _ = get(client, "/qc/titles/", queries)  # learns the tables it reads
    second, _ = get(client, "/qc/titles/", queries)  # stored
    third, ran_third = get(client, "/qc/titles/", queries)
    assert first == second == third == "1 tags; hello"
    assert ran_third == 0
    Tag.objects.create(name="b")
    fourth, ran_fourth = get(client, "/qc/titles/", queries)
    assert fourth == "2 tags; hello"
    assert ran_fourth == 2
    Post.objects.filter(title="hello").update(title="bye")
    assert get(client, "/qc/titles/", queries)[0] == "2 tags; bye"


def test_pages_with_side_effects_or_cookies_are_not_stored(querycache: Any, queries: Any) -> None:
    post = Post.objects.create(title="a")
    client = Client()
    for _ in range(3):
        _, ran = get(client, f"/qc/counted/?pk={post.pk}", queries)
        assert ran >= 2  # its UPDATE and its COUNT, every time
        _, ran = get(client, "/qc/cookie/", queries)
        assert ran >= 1
    with queries("default") as ran:
        client.post("/qc/titles/")
    assert len(ran) > 0


def test_a_fragment_is_served_until_a_table_it_read_changes(querycache: Any, queries: Any) -> None:
    Tag.objects.create(name="a")
    client = Client()
    for n in range(3):
        html, ran = get(client, f"/qc/fragment/?x=<b>{n}", queries)
        assert f"<p>&lt;b&gt;{n}</p>" in html  # outside the fragment: fresh and escaped
        assert "<li>a</li>" in html
    assert ran == 0  # the fragment's query did not run
    Tag.objects.create(name="<i>b")
    html, ran = get(client, "/qc/fragment/?x=3", queries)
    assert "<li>&lt;i&gt;b</li>" in html
    assert ran == 1
