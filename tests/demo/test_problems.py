"""The planted problems of demo/PROBLEMS.md really happen, and the decoys stay decoys.

Query shapes are matched on normalized SQL (no quotes, lower case); the suite runs them on
the default database (SQLite).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from blog.models import Article, Category, Comment, PageView, Profile
from tests.demo.helpers import normalized

pytestmark = [pytest.mark.django_db, pytest.mark.urls("demosite.urls")]

# Per-row queries of includes/article_preview.html and views._mark_favorites.
PREVIEW_N_PLUS_ONE = {
    "P1 forward FK article.author": "from auth_user where auth_user.id =",
    "P2 one-to-one author.profile": "from blog_profile where blog_profile.user_id =",
    "P3 reverse FK count article.comments": (
        "count(*) as __count from blog_comment where blog_comment.article_id ="
    ),
    "P4 M2M article.tags": "from blog_tag inner join blog_article_tags",
    "P15 favorites count": "count(*) as __count from auth_user inner join blog_article_favorited_by",
    "P15 favorited by": "from auth_user inner join blog_article_favorited_by",
}
SIGNED_IN_N_PLUS_ONE = {
    "P5 per-row exists": "select 1 as a from auth_user inner join blog_article_favorited_by",
}
POPULAR_TAGS = "count(blog_article_tags.article_id) as num_articles from blog_tag left outer join"


def queries(client: Client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return [normalized(q["sql"]) for q in captured.captured_queries]


def matching(sqls: list[str], *fragments: str) -> list[str]:
    return [sql for sql in sqls if all(fragment in sql for fragment in fragments)]


def publish_only(count: int) -> None:
    """Leave exactly ``count`` published articles, the oldest (rolled back after the test)."""
    keep = Article.objects.filter(published_at__isnull=False).order_by("pk")[:count]
    Article.objects.update(is_published=False)
    Article.objects.filter(pk__in=list(keep.values_list("pk", flat=True))).update(is_published=True)


def index_columns(table: str) -> list[list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return [c["columns"] for c in constraints.values() if c["index"] or c["unique"]]


# ------------------------------------------------------------------ N+1 (P1-P6, P15)


@pytest.mark.parametrize("signed_in", [False, True], ids=["visitor", "signed-in"])
def test_feed_queries_grow_with_the_articles_on_the_page(signed_in: bool, demo_user: Any) -> None:
    client = Client()
    if signed_in:
        client.force_login(demo_user)
    patterns = PREVIEW_N_PLUS_ONE | (SIGNED_IN_N_PLUS_ONE if signed_in else {})
    totals = {}
    for rows in (3, 9):
        publish_only(rows)
        sqls = queries(client, reverse("blog:home"))
        totals[rows] = len(sqls)
        for problem, fragment in patterns.items():
            found = matching(sqls, fragment)
            if problem.startswith("P1 ") and signed_in:
                found = found[1:]  # the session's user is loaded once by the auth middleware
            if problem == "P15 favorited by":
                found = [sql for sql in found if "limit 3" in sql]
            assert len(found) == rows, (problem, rows)
    assert totals[9] - totals[3] == 6 * len(patterns)


@pytest.mark.parametrize(
    "route", ["blog:feed", "blog:tag", "blog:profile_favorites", "api:articles"]
)
def test_other_article_lists_share_the_n_plus_one(route: str, demo_user: Any) -> None:
    client = Client()
    client.force_login(demo_user)
    args = {
        "blog:feed": [],
        "blog:tag": ["django"],
        "blog:profile_favorites": ["demo"],
        "api:articles": [],
    }[route]
    sqls = queries(client, reverse(route, args=args))
    rows = len(matching(sqls, PREVIEW_N_PLUS_ONE["P4 M2M article.tags"]))
    assert rows >= 5
    assert len(matching(sqls, PREVIEW_N_PLUS_ONE["P15 favorites count"])) == rows
    if route != "api:articles":  # the API selects the author with its articles
        assert len(matching(sqls, PREVIEW_N_PLUS_ONE["P2 one-to-one author.profile"])) == rows
        assert len(matching(sqls, SIGNED_IN_N_PLUS_ONE["P5 per-row exists"])) == rows


def test_prefetch_bypass_on_the_profile_page(demo_user: Any) -> None:
    sqls = queries(Client(), reverse("blog:profile", args=["demo"]))
    prefetch = matching(sqls, "from blog_comment where blog_comment.article_id in (")
    per_row = matching(
        sqls,
        "from blog_comment inner join auth_user",
        "where blog_comment.article_id =",
        "order by blog_comment.created_at desc limit 1",
    )
    assert len(prefetch) == 1  # prefetched, then ignored:
    assert len(per_row) == 10  # one more query for each of the 10 articles of the page


# ------------------------------------------------------------------ duplicates (P7, P8)


@pytest.mark.parametrize("route", ["blog:article", "blog:feed"])
def test_viewer_profile_is_loaded_twice(route: str, demo_user: Any) -> None:
    client = Client()
    client.force_login(demo_user)
    args = (
        [Article.objects.filter(is_published=True).first().slug] if route == "blog:article" else []
    )  # type: ignore[union-attr]
    sqls = queries(client, reverse(route, args=args))
    viewer = matching(
        sqls,
        "from blog_profile inner join auth_user",
        f"where blog_profile.user_id = {demo_user.pk} ",
    )
    assert len(viewer) == 2 and viewer[0] == viewer[1]  # same SQL, same parameters


def test_popular_tags_are_computed_twice_on_home(seeded: dict[str, int]) -> None:
    sqls = queries(Client(), reverse("blog:home"))
    repeated = Counter(matching(sqls, POPULAR_TAGS))
    assert list(repeated.values()) == [2]


# ------------------------------------------------------------------ cache (P16)


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/tags/",
        "/tag/django/",
        "/category/tech/",
        "/search/?q=x",
        "/profile/demo/",
        "/api/tags/",
    ],
)
def test_popular_tags_aggregate_runs_on_every_page(url: str, seeded: dict[str, int]) -> None:
    assert matching(queries(Client(), url), POPULAR_TAGS)


# ------------------------------------------------------------------ missing indexes (P9-P14)


def test_orderings_and_filters_on_unindexed_columns(demo_user: Any) -> None:
    client = Client()
    home = queries(client, reverse("blog:home"))
    assert matching(
        home,
        "from blog_article where blog_article.is_published",
        "order by blog_article.published_at desc",
    )
    profile = queries(client, reverse("blog:profile", args=["DEMO"]))
    assert matching(profile, "from auth_user", "where auth_user.username like")  # iexact on SQLite
    assert matching(
        profile, "where (blog_article.author_id =", "order by blog_article.created_at desc"
    )
    assert matching(profile, "from blog_profile where (blog_profile.location =")
    slug = Article.objects.filter(is_published=True).first().slug  # type: ignore[union-attr]
    article = queries(client, reverse("blog:article", args=[slug]))
    assert matching(
        article, "where blog_comment.article_id =", "order by blog_comment.created_at asc"
    )
    search = queries(client, reverse("blog:search") + "?q=redis")
    assert matching(search, "blog_article.title like") or matching(
        search, "upper(blog_article.title"
    )

    article_indexes = index_columns(Article._meta.db_table)
    assert not [
        cols for cols in article_indexes if cols[0] in {"published_at", "created_at", "title"}
    ]
    assert ["author_id", "created_at"] not in article_indexes
    assert ["article_id", "created_at"] not in index_columns(Comment._meta.db_table)
    assert not [c for c in index_columns(Profile._meta.db_table) if c[0] == "location"]


# ------------------------------------------------------------------ unused indexes (P17-P22)


def test_page_view_table_carries_indexes_it_never_reads(seeded: dict[str, int]) -> None:
    indexed = index_columns(PageView._meta.db_table)
    for columns in (
        ["article_id"],
        ["user_id"],
        ["path"],
        ["created_at"],
        ["ip", "created_at"],
        ["referrer"],
    ):
        assert columns in indexed


# ------------------------------------------------------------------ decoys (D1-D4)


def test_decoys_are_cheap_or_already_indexed(seeded: dict[str, int]) -> None:
    assert Category.objects.count() == 5  # D1: a tiny table, code deliberately unindexed
    assert not [c for c in index_columns(Category._meta.db_table) if c[0] == "code"]
    assert Article.objects.filter(is_published=True).count() > 0.85 * Article.objects.count()  # D2
    assert not [c for c in index_columns(Article._meta.db_table) if c[0] == "is_published"]
    assert ["slug"] in index_columns(Article._meta.db_table)  # D3: unique index
    assert ["article_id"] in index_columns(Comment._meta.db_table)  # D4: FK index

    client = Client()
    category = queries(client, reverse("blog:category", args=["tech"]))
    assert matching(category, "from blog_category where blog_category.code =")
    slug = Article.objects.filter(is_published=True).first().slug  # type: ignore[union-attr]
    detail = queries(client, reverse("api:article", args=[slug]))
    assert matching(detail, "count(*) as __count from blog_comment where blog_comment.article_id =")
    assert matching(detail, "from blog_article inner join", "blog_article.slug =")
