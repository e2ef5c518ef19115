"""The code fixes of demo/PROBLEMS.md (N+1s P1-P6, duplicates P7-P8, the cache of P16,
the copies of P15), switched on by a setting.

``DEMO_N_PLUS_ONE_FIXED = True`` (environment ``DEMO_FIXED=1``) makes the views load the
related rows up front, so the demo can show the state after the code fixes without
editing files while it runs. Off, the views keep their planted problems.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest

from blog import mirrors
from blog.models import Article, Comment
from django_pareto.querycache import cached

_T = TypeVar("_T", bound=QuerySet[Any])

FANS_SHOWN = 3  # "favorited by a, b, c" under each feed item


def enabled() -> bool:
    return bool(getattr(settings, "DEMO_N_PLUS_ONE_FIXED", False))


def copied(name: str) -> bool:
    """Is the copy ``name`` of Article (``tag_info``, ``favorited_by_ids``) there to read?"""
    return name in mirrors.APPLIED


def _prefetched_relations() -> list[str]:
    """The relations list pages read per row that have no copy to read instead."""
    return [
        relation
        for relation, copy in (("tags", "tag_info"), ("favorited_by", "favorited_by_ids"))
        if not copied(copy)
    ]


def cached_aggregate(queryset: _T) -> _T:
    """P16: the query cache keeps the result until a table it reads is written."""
    return cached(queryset, timeout=600) if enabled() else queryset


def preview_rows(articles: QuerySet[Article]) -> QuerySet[Article]:
    """What includes/article_preview.html reads per row, loaded in a few queries (P1-P4, P15).

    ``.count()`` and ``.all`` on a prefetched relation use the prefetched rows, so the
    template needs no change.
    """
    if not enabled():
        return articles
    return articles.select_related("author__profile").prefetch_related(
        "comments", *_prefetched_relations()
    )


def api_rows(articles: QuerySet[Article]) -> QuerySet[Article]:
    """What serialize_article reads per article (P4, P15)."""
    return articles.prefetch_related(*_prefetched_relations()) if enabled() else articles


def favorited_ids(articles: Iterable[Article], request: HttpRequest) -> set[int] | None:
    """The viewer's favorites among ``articles`` in one query (P5), or None when off."""
    if not enabled():
        return None
    user = request.user
    if not user.is_authenticated:
        return set()
    if copied("favorited_by_ids"):
        return {a.pk for a in articles if user.pk in a.favorited_by_ids}
    ids = [a.pk for a in articles]
    through = Article.favorited_by.through
    return set(
        through.objects.filter(user_id=user.pk, article_id__in=ids).values_list(
            "article_id", flat=True
        )
    )


def with_recent_comments(articles: QuerySet[Article]) -> QuerySet[Article]:
    """Replace the bypassed prefetch of P6 by one that serves the latest comment."""
    if not enabled():
        return articles.prefetch_related("comments")
    recent = Comment.objects.select_related("author").order_by("-created_at")
    return articles.prefetch_related(Prefetch("comments", queryset=recent, to_attr="recent"))


def preview_copies(articles: Iterable[Article]) -> None:
    """Set what includes/article_preview_fixed.html shows per row: from the copies where
    they are applied, else from the prefetched relations; the first fans of the whole
    page in one query."""
    if not enabled():
        return
    fan_ids: dict[int, list[int]] = {}
    page: list[Any] = list(articles)  # Any: the template's attributes are set here
    for row in page:
        row.preview_tags = row.tag_info if copied("tag_info") else list(row.tags.all())
        if copied("favorited_by_ids"):
            row.favorites_count = len(row.favorited_by_ids)
            fan_ids[row.pk] = row.favorited_by_ids[:FANS_SHOWN]
        else:
            fans = list(row.favorited_by.all())  # prefetched
            row.favorites_count = len(fans)
            row.fans = fans[:FANS_SHOWN]
    if fan_ids:
        users = (
            get_user_model()
            .objects.only("username")
            .in_bulk({pk for ids in fan_ids.values() for pk in ids})
        )
        for row in page:
            if row.pk in fan_ids:
                row.fans = [users[pk] for pk in fan_ids[row.pk] if pk in users]
