"""The costly aggregate several pages show: a helper, as real sites have (the line of the fix)."""

from __future__ import annotations

from django.db.models import Avg, Count

from tests.cache_app.models import Product


def review_ranking(alias: str) -> list[Product]:
    """The ten most reviewed products: a GROUP BY over every review, on every call."""
    ranking = (
        Product.objects.using(alias)
        .annotate(reviews_count=Count("reviews"), stars=Avg("reviews__stars"))
        .order_by("-reviews_count", "name")[:10]
    )
    return list(ranking)  # queryset cache: review_ranking
