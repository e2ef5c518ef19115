"""A small read-only JSON API (Conduit-like), served under /api/ with the namespace "api"."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from blog import fixes
from blog.models import Article, Comment, Follow
from blog.queries import popular_tags

User = get_user_model()

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def _int_param(request: HttpRequest, name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(request.GET.get(name, default))
    except ValueError:
        value = default
    return max(low, min(high, value))


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _tag_names(article: Article) -> list[str]:
    if fixes.copied("tag_info"):  # pareto.D001's copy (blog/mirrors.py)
        return [tag["name"] for tag in article.tag_info]
    return [tag.name for tag in article.tags.all()]  # one query per article (P4)


def _favorites_count(article: Article) -> int:
    if fixes.copied("favorited_by_ids"):
        return len(article.favorited_by_ids)
    return article.favorited_by.count()  # COUNT over the M2M per article (P15)


def serialize_article(article: Article, *, with_body: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "slug": article.slug,
        "title": article.title,
        "description": article.description,
        "createdAt": _iso(article.created_at),
        "publishedAt": _iso(article.published_at),
        "author": article.author.username,
        "category": article.category.code,
        "tagList": _tag_names(article),
        "favoritesCount": _favorites_count(article),
        "viewCount": article.view_count,
    }
    if with_body:
        data["body"] = article.body
    return data


@require_GET
def article_list(request: HttpRequest) -> JsonResponse:
    """GET /api/articles/?tag=<slug>&author=<username>&limit=20&offset=0"""
    articles = (
        Article.objects.filter(is_published=True)
        .select_related("author", "category")
        .order_by("-published_at")
    )
    if tag := request.GET.get("tag"):
        articles = articles.filter(tags__slug=tag)
    if author := request.GET.get("author"):
        articles = articles.filter(author__username=author)
    limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int_param(request, "offset", 0, 0, 1_000_000)
    window = fixes.api_rows(articles)[offset : offset + limit]
    rows = [serialize_article(article) for article in window]
    return JsonResponse({"articles": rows, "articlesCount": len(rows), "offset": offset})


@require_GET
def article_detail(request: HttpRequest, slug: str) -> JsonResponse:
    article = get_object_or_404(
        Article.objects.select_related("author", "category"), slug=slug, is_published=True
    )
    data = serialize_article(article, with_body=True)
    # WHERE article_id = %s alone: the FK index already serves it (D4).
    data["commentsCount"] = Comment.objects.filter(article=article).count()
    return JsonResponse({"article": data})


@require_GET
def profile_detail(request: HttpRequest, username: str) -> JsonResponse:
    user = get_object_or_404(User.objects.select_related("profile"), username=username)
    profile = getattr(user, "profile", None)
    viewer = request.user
    following = (
        viewer.is_authenticated and Follow.objects.filter(follower=viewer, followee=user).exists()
    )
    return JsonResponse(
        {
            "profile": {
                "username": user.get_username(),
                "bio": profile.bio if profile else "",
                "image": profile.image if profile else "",
                "location": profile.location if profile else "",
                "following": following,
            }
        }
    )


@require_GET
def tag_list(request: HttpRequest) -> JsonResponse:
    tags = popular_tags(limit=None)  # the uncached aggregate again (P16)
    return JsonResponse(
        {"tags": [{"name": t.name, "slug": t.slug, "articles": t.num_articles} for t in tags]}  # type: ignore[attr-defined]
    )
