"""Template tags of the base layout: the navbar's profile and the sidebar's popular tags."""

from __future__ import annotations

from typing import Any

from django import template

from blog.models import Profile
from blog.queries import popular_tags, viewer_profile

register = template.Library()


@register.simple_tag(takes_context=True)
def current_profile(context: template.Context) -> Profile | None:
    """The viewer's profile for the navbar (views that need it load it again: P7)."""
    request = context.get("request")
    if request is None:
        return None
    return viewer_profile(request.user)


@register.inclusion_tag("blog/includes/popular_tags.html")
def popular_tags_sidebar() -> dict[str, Any]:
    """The sidebar of every page: the popular-tags aggregate, uncached (P16)."""
    return {"tags": popular_tags()}
