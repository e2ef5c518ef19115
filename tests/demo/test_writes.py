"""Write endpoints: signed in, through Django's real CSRF check, and they take effect."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from blog.models import Article, Comment, Follow, Tag
from tests.demo.helpers import csrf_client

pytestmark = [pytest.mark.django_db, pytest.mark.urls("demosite.urls")]


def _article() -> Article:
    article = Article.objects.filter(is_published=True).order_by("pk").first()
    assert article is not None
    return article


def _someone_else(user: Any) -> Any:
    return get_user_model().objects.exclude(pk=user.pk).order_by("pk").first()


def _writes(slug: str, username: str) -> list[tuple[str, dict[str, str]]]:
    return [
        (reverse("blog:comment", args=[slug]), {"body": "Nice one."}),
        (reverse("blog:favorite", args=[slug]), {}),
        (reverse("blog:follow", args=[username]), {}),
        (
            reverse("blog:publish"),
            {"title": "Hello", "body": "Text", "category": "tech", "tags": "django"},
        ),
    ]


def test_writes_are_refused_without_the_csrf_token(demo_user: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(demo_user)
    for url, data in _writes(_article().slug, _someone_else(demo_user).username):
        assert client.post(url, data).status_code == 403, url


def test_writes_need_a_signed_in_user(seeded: dict[str, int]) -> None:
    client = csrf_client()
    for url, data in _writes(_article().slug, "demo"):
        response = client.post(url, data)
        assert response.status_code == 302, url
        assert "login" in response["Location"]


def test_write_endpoints_reject_get(demo_user: Any) -> None:
    client = csrf_client(demo_user)
    article = _article()
    assert client.get(reverse("blog:comment", args=[article.slug])).status_code == 405
    assert client.get(reverse("blog:favorite", args=[article.slug])).status_code == 405
    assert client.get(reverse("blog:follow", args=["demo"])).status_code == 405


def test_comment(demo_user: Any) -> None:
    article = _article()
    before = article.comments.count()  # type: ignore[attr-defined]
    response = csrf_client(demo_user).post(
        reverse("blog:comment", args=[article.slug]), {"body": "Thanks for this!"}
    )
    assert response.status_code == 302
    comment = Comment.objects.latest("pk")
    assert response["Location"] == f"{article.get_absolute_url()}#comment-{comment.pk}"
    assert (comment.article_id, comment.author_id) == (article.pk, demo_user.pk)
    assert article.comments.count() == before + 1  # type: ignore[attr-defined]


def test_comment_json_and_empty_body(demo_user: Any) -> None:
    client = csrf_client(demo_user)
    url = reverse("blog:comment", args=[_article().slug])
    json = {"Accept": "application/json"}
    assert client.post(url, {"body": "Hi"}, headers=json).status_code == 201
    assert client.post(url, {"body": ""}, headers=json).status_code == 400
    assert client.post(url, {"body": ""}).status_code == 302  # back to the article


def test_favorite_toggles(demo_user: Any) -> None:
    article = Article.objects.filter(is_published=True).exclude(favorited_by=demo_user).first()
    assert article is not None
    client = csrf_client(demo_user)
    url = reverse("blog:favorite", args=[article.slug])
    assert client.post(url).status_code == 302
    assert article.favorited_by.filter(pk=demo_user.pk).exists()
    response = client.post(url, headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response.json()["favorited"] is False
    assert not article.favorited_by.filter(pk=demo_user.pk).exists()


def test_follow_toggles_and_self_follow_is_a_no_op(demo_user: Any) -> None:
    other = (
        get_user_model()
        .objects.exclude(follower_set__follower=demo_user)
        .exclude(pk=demo_user.pk)[0]
    )
    client = csrf_client(demo_user)
    url = reverse("blog:follow", args=[other.username])
    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("blog:profile", args=[other.username])
    assert Follow.objects.filter(follower=demo_user, followee=other).exists()
    assert client.post(url, headers={"Accept": "application/json"}).json()["following"] is False
    assert not Follow.objects.filter(follower=demo_user, followee=other).exists()
    assert client.post(reverse("blog:follow", args=["demo"])).status_code == 302
    assert not Follow.objects.filter(follower=demo_user, followee=demo_user).exists()


def test_publish_makes_unique_slugs_and_sets_tags(demo_user: Any) -> None:
    client = csrf_client(demo_user)
    data = {
        "title": "Why our feed was slow",
        "description": "Measured, then fixed.",
        "body": "It was the N+1.",
        "category": "tech",
        "tags": "django, Brand New Tag",
    }
    first = client.post(reverse("blog:publish"), data)
    second = client.post(reverse("blog:publish"), data)
    assert first.status_code == second.status_code == 302
    assert first["Location"] != second["Location"]
    articles = Article.objects.filter(title=data["title"], author=demo_user)
    assert articles.count() == 2
    for article in articles:
        assert article.slug.startswith("why-our-feed-was-slow-")
        assert article.is_published and article.published_at is not None
        assert article.category.code == "tech"
        assert sorted(t.slug for t in article.tags.all()) == ["brand-new-tag", "django"]
    assert Tag.objects.filter(slug="brand-new-tag").count() == 1
    assert client.get(first["Location"]).status_code == 200


def test_publish_rejects_invalid_data(demo_user: Any) -> None:
    client = csrf_client(demo_user)
    response = client.post(reverse("blog:publish"), {"title": "", "category": "nope"})
    assert response.status_code == 400
    response = client.post(
        reverse("blog:publish"),
        {"title": "T", "body": "B", "category": "tech"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 201
    assert response.json()["url"].startswith("/article/")
