"""Template context of the demo's fixes (see blog/fixes.py)."""

from __future__ import annotations

from django.http import HttpRequest

from blog import fixes

PLANTED = "blog/includes/article_preview.html"
FIXED = "blog/includes/article_preview_fixed.html"


def demo_fixes(request: HttpRequest) -> dict[str, str]:
    """The feed item template: the planted one (a query per row and relation) or the one
    that reads what the fixed views loaded up front (``fixes.preview_copies``)."""
    return {"preview_template": FIXED if fixes.enabled() else PLANTED}
