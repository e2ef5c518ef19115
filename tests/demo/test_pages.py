"""Every HTML page and API endpoint answers, for visitors and signed-in users."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from blog.models import Article, Category, Tag

pytestmark = [pytest.mark.django_db, pytest.mark.urls("demosite.urls")]


def _targets() -> dict[str, str]:
    article = Article.objects.filter(is_published=True).order_by("pk").first()
    assert article is not None
    author = article.author.username
    return {
        "article": article.slug,
        "tag": Tag.objects.order_by("pk").values_list("slug", flat=True)[0],
        "category": Category.objects.order_by("pk").values_list("code", flat=True)[0],
        "author": author,
    }


Url = Callable[[dict[str, str]], str]

# name -> (url builder, status for a visitor, status when signed in)
HTML: dict[str, tuple[Url, int, int]] = {
    "home": (lambda t: reverse("blog:home"), 200, 200),
    "home page 3": (lambda t: reverse("blog:home") + "?page=3", 200, 200),
    "home bad page": (lambda t: reverse("blog:home") + "?page=zzz", 200, 200),
    "feed": (lambda t: reverse("blog:feed"), 302, 200),
    "tags": (lambda t: reverse("blog:tags"), 200, 200),
    "tag": (lambda t: reverse("blog:tag", args=[t["tag"]]), 200, 200),
    "category": (lambda t: reverse("blog:category", args=[t["category"]]), 200, 200),
    "search": (lambda t: reverse("blog:search") + "?q=django", 200, 200),
    "search empty": (lambda t: reverse("blog:search"), 200, 200),
    "article": (lambda t: reverse("blog:article", args=[t["article"]]), 200, 200),
    "profile": (lambda t: reverse("blog:profile", args=[t["author"]]), 200, 200),
    "profile other case": (lambda t: reverse("blog:profile", args=[t["author"].upper()]), 200, 200),
    "profile favorites": (lambda t: reverse("blog:profile_favorites", args=["demo"]), 200, 200),
    "publish form": (lambda t: reverse("blog:publish"), 302, 200),
    "login": (lambda t: reverse("blog:login"), 200, 200),
}

API: dict[str, Url] = {
    "articles": lambda t: reverse("api:articles"),
    "articles by tag": lambda t: reverse("api:articles") + f"?tag={t['tag']}&limit=5",
    "articles by author": lambda t: reverse("api:articles") + f"?author={t['author']}",
    "articles bad paging": lambda t: reverse("api:articles") + "?limit=x&offset=-3",
    "article": lambda t: reverse("api:article", args=[t["article"]]),
    "profile": lambda t: reverse("api:profile", args=[t["author"]]),
    "tags": lambda t: reverse("api:tags"),
}


@pytest.mark.parametrize("signed_in", [False, True], ids=["visitor", "signed-in"])
@pytest.mark.parametrize("page", list(HTML))
def test_html_pages(page: str, signed_in: bool, demo_user: Any) -> None:
    url, visitor_status, user_status = HTML[page]
    client = Client()
    if signed_in:
        client.force_login(demo_user)
    response = client.get(url(_targets()))
    assert response.status_code == (user_status if signed_in else visitor_status)
    if response.status_code == 200:
        assert response["Content-Type"].startswith("text/html")
        assert b"Popular tags" in response.content  # the sidebar of every page


@pytest.mark.parametrize("signed_in", [False, True], ids=["visitor", "signed-in"])
@pytest.mark.parametrize("endpoint", list(API))
def test_api_endpoints(endpoint: str, signed_in: bool, demo_user: Any) -> None:
    client = Client()
    if signed_in:
        client.force_login(demo_user)
    response = client.get(API[endpoint](_targets()), headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()


def test_api_payloads(demo_user: Any) -> None:
    targets = _targets()
    client = Client()
    articles = client.get(reverse("api:articles") + "?limit=5").json()["articles"]
    assert len(articles) == 5
    assert {"slug", "title", "author", "tagList", "favoritesCount"} <= set(articles[0])
    detail = client.get(reverse("api:article", args=[targets["article"]])).json()["article"]
    assert detail["slug"] == targets["article"] and "body" in detail and "commentsCount" in detail
    tags = client.get(reverse("api:tags")).json()["tags"]
    counts = [tag["articles"] for tag in tags]
    assert counts == sorted(counts, reverse=True)
    profile = client.get(reverse("api:profile", args=["demo"])).json()["profile"]
    assert profile["username"] == "demo" and profile["following"] is False


def test_missing_and_unpublished_pages_are_404(seeded: dict[str, int]) -> None:
    client = Client()
    draft = Article.objects.filter(is_published=False).first()
    assert draft is not None
    for url in [
        reverse("blog:article", args=["no-such-article"]),
        reverse("blog:article", args=[draft.slug]),
        reverse("api:article", args=[draft.slug]),
        reverse("blog:tag", args=["no-such-tag"]),
        reverse("blog:category", args=["nope"]),
        reverse("blog:profile", args=["nobody-at-all"]),
        reverse("api:profile", args=["nobody-at-all"]),
    ]:
        assert client.get(url).status_code == 404, url


def test_article_view_logs_a_page_view_and_counts_it(seeded: dict[str, int]) -> None:
    article = Article.objects.filter(is_published=True).order_by("pk").first()
    assert article is not None
    before = article.page_views.count()  # type: ignore[attr-defined]
    response = Client().get(article.get_absolute_url(), headers={"Referer": "https://example.com/"})
    assert response.status_code == 200
    assert article.page_views.count() == before + 1  # type: ignore[attr-defined]
    article.refresh_from_db()
    assert article.view_count >= 1


def test_sign_in_with_the_demo_password(seeded: dict[str, int]) -> None:
    client = Client()
    response = client.post(reverse("blog:login"), {"username": "demo", "password": "demo"})
    assert response.status_code == 302
    assert client.get(reverse("blog:feed")).status_code == 200
    assert get_user_model().objects.get(username="demo").last_login is not None
