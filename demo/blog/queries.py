"""Query helpers shared by views, the API and template tags."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count

from blog.models import Profile, Tag

POPULAR_TAGS = 20


def popular_tags(limit: int | None = POPULAR_TAGS) -> list[Tag]:
    """Tags ranked by how many articles carry them.

    A Count over the whole article-tag relation, recomputed on every call although it
    changes only when an article is published (P16: cache it, invalidate on writes).
    """
    tags = Tag.objects.annotate(num_articles=Count("articles")).order_by("-num_articles", "name")
    if limit is not None:
        tags = tags[:limit]
    return list(tags)


def viewer_profile(user: AbstractBaseUser | AnonymousUser) -> Profile | None:
    """The profile of the logged-in user, or None.

    Called by the navbar template tag and again by some views in the same request (P7).
    """
    if not user.is_authenticated:
        return None
    return Profile.objects.select_related("user").filter(user_id=user.pk).first()
