"""One view per caching case; comments ``# <case>`` mark the lines the tests expect.

Every view reads from the database alias given in its URL's kwargs, so the same views
run on SQLite and on PostgreSQL with routes that have no URL parameters (a page cache is
judged per route).
"""

from __future__ import annotations

from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from tests.cache_app.models import Category, Product, Review, Visit
from tests.cache_app.queries import review_ranking

LINES = 400  # rows the catalog renders: the page costs far more than a cache round trip


def catalog(request: HttpRequest, alias: str) -> HttpResponse:  # page cache: catalog
    """The same for every visitor, built from a table that is rarely written."""
    categories = list(Category.objects.using(alias).order_by("name"))  # cheap: catalog
    return render(
        request,
        "cache_app/catalog.html",
        {"categories": categories, "lines": range(LINES)},
    )


def new_category(request: HttpRequest, alias: str) -> HttpResponse:
    """The rare write that invalidates the catalog."""
    Category.objects.using(alias).create(name=request.POST.get("name", "new"))
    return HttpResponse(status=201)


def _product(request: HttpRequest, alias: str) -> Product | None:
    """A lookup by a query-string parameter: the page differs per product."""
    return Product.objects.using(alias).filter(pk=request.GET.get("id", 1)).first()


def stats_a(request: HttpRequest, alias: str) -> HttpResponse:
    product = _product(request, alias)
    ranking = review_ranking(alias)
    return JsonResponse({"product": product.name if product else None, "top": len(ranking)})


def stats_b(request: HttpRequest, alias: str) -> HttpResponse:
    ranking = review_ranking(alias)
    product = _product(request, alias)
    return JsonResponse({"product": product.name if product else None, "top": len(ranking)})


def board(request: HttpRequest, alias: str) -> HttpResponse:
    """The template evaluates the costly queryset: a fragment of the page can be cached."""
    product = _product(request, alias)
    by_stars = (
        Review.objects.using(alias)
        .values("stars")
        .annotate(reviews=Count("id"), products=Count("product", distinct=True))
        .order_by("stars")
    )
    return render(request, "cache_app/board.html", {"product": product, "by_stars": by_stars})


def visits(request: HttpRequest, alias: str) -> HttpResponse:
    """Writes the table it then aggregates, on every request: a cache would always miss."""
    Visit.objects.using(alias).create(path=request.path)
    top = (
        Visit.objects.using(alias).values("path").annotate(n=Count("id")).order_by("-n", "path")[:5]
    )
    return JsonResponse({"top": [row["path"] for row in top]})  # write-heavy: visits


def menu(request: HttpRequest, alias: str) -> HttpResponse:
    """A cheap read (a few rows) next to a per-product lookup: nothing worth caching."""
    names = [c.name for c in Category.objects.using(alias).order_by("name")]  # cheap: menu
    product = _product(request, alias)
    return JsonResponse({"menu": names, "product": product.pk if product else None})
