"""The demo's N+1 fixes (blog/fixes.py): the same pages, in a number of queries that no
longer grows with the rows shown."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

pytestmark = [pytest.mark.django_db, pytest.mark.urls("demosite.urls")]

PAGES = ["/", "/?page=2", "/feed/", "/api/articles/?limit=15", "/api/articles/?limit=5"]


def fetch(client: Client, url: str) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    # The CSRF token differs per response; everything else must be identical.
    body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())
    return body, len(ctx.captured_queries)


@pytest.mark.parametrize("url", PAGES)
def test_fixed_pages_are_identical_in_far_fewer_queries(
    url: str, demo_user: Any, settings: Any
) -> None:
    client = Client()
    client.force_login(demo_user)
    settings.DEMO_N_PLUS_ONE_FIXED = False
    before, before_queries = fetch(client, url)
    settings.DEMO_N_PLUS_ONE_FIXED = True
    after, after_queries = fetch(client, url)
    assert after == before
    assert after_queries < before_queries / 3, (before_queries, after_queries)
    assert after_queries <= 16  # a constant, whatever the page size


def test_fixed_profile_page_shows_the_same_latest_comments(demo_user: Any, settings: Any) -> None:
    from blog.models import Article

    author = Article.objects.values_list("author__username", flat=True).first()
    client = Client()
    settings.DEMO_N_PLUS_ONE_FIXED = False
    before, before_queries = fetch(client, f"/profile/{author}/")
    settings.DEMO_N_PLUS_ONE_FIXED = True
    after, after_queries = fetch(client, f"/profile/{author}/")
    assert after == before
    assert after_queries < before_queries
