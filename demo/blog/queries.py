"""Query helpers shared by views, the API and template tags."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count

from blog import fixes
from blog.models import Profile, Tag

POPULAR_TAGS = 20


def popular_tags(limit: int | None = POPULAR_TAGS) -> list[Tag]:
    """Tags ranked by how many articles carry them.

    A Count over the whole article-tag relation, recomputed on every call although it
    changes only when an article is published (P16: cache it, invalidate on writes; with
    the demo's fixes on, django-pareto's query cache does, which also answers P8's
    second call from the cache).
    """
    tags = Tag.objects.annotate(num_articles=Count("articles")).order_by("-num_articles", "name")
    if limit is not None:
        tags = tags[:limit]
    return list(fixes.cached_aggregate(tags))


def viewer_profile(user: AbstractBaseUser | AnonymousUser) -> Profile | None:
    """The profile of the logged-in user, or None.

    Called by the navbar template tag and again by some views in the same request (P7).
    """
    if not user.is_authenticated:
        return None
    if fixes.enabled():  # P7's fix: once per request (request.user lives for one request)
        if not hasattr(user, "_viewer_profile"):
            user._viewer_profile = _profile_of(user)  # type: ignore[union-attr]
        return user._viewer_profile  # type: ignore[union-attr,no-any-return]
    return _profile_of(user)


def _profile_of(user: AbstractBaseUser) -> Profile | None:
    return Profile.objects.select_related("user").filter(user_id=user.pk).first()
