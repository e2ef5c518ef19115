"""P16's fix in the demo: the popular-tags aggregate comes from the query cache until an
article's tags change. Transactional (the cache stores only committed reads on SQLite),
so it is alone in its module: the flush after it would empty a shared seed."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from blog.models import Article, Tag
from blog.queries import popular_tags
from django_pareto.querycache import disabled

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("demosite.urls")]


def aggregate_runs(client: Client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/").status_code == 200
    return sum("COUNT(" in q["sql"] and "blog_article_tags" in q["sql"] for q in ctx)


def test_popular_tags_are_cached_until_an_article_is_tagged(
    seeded: dict[str, int], settings: Any
) -> None:
    settings.DEMO_N_PLUS_ONE_FIXED = True
    client = Client()
    assert aggregate_runs(client) == 1  # computed once, although the page asks twice (P8)
    assert aggregate_runs(client) == 0  # then served from the cache (P16)
    tag = Tag.objects.order_by("pk").last()
    assert tag is not None
    for article in Article.objects.filter(is_published=True).exclude(tags=tag)[:200]:
        article.tags.add(tag)  # enough to move the ranking
    assert aggregate_runs(client) == 1
    with disabled():
        truth = [(t.pk, t.num_articles) for t in popular_tags()]
    assert [(t.pk, t.num_articles) for t in popular_tags()] == truth
