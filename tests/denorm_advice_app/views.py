"""One view per many-to-many shape; comments ``# <case>`` mark the lines the tests expect.

Every view reads from the database alias given in its URL's kwargs, so the same views run
on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, JsonResponse

from tests.denorm_advice_app.models import Article, Book, Ingredient, Loan, Recipe, Shirt, Tag

PAGE = 200  # parents a list page shows


def articles(request: HttpRequest, alias: str) -> HttpResponse:
    """The tag ids of each article: the prefetch selects the related pks only."""
    ids_only = Prefetch("tags", queryset=Tag.objects.using(alias).only("id"))
    page = Article.objects.using(alias).order_by("-id").prefetch_related(ids_only)[:PAGE]
    return JsonResponse({a.pk: [t.pk for t in a.tags.all()] for a in page})  # ids: prefetch


def tagged(request: HttpRequest, alias: str) -> HttpResponse:
    """Articles with a tag, by its slug: a join through the relation in a list query."""
    slug = request.GET.get("tag", "tag-1")
    found = Article.objects.using(alias).filter(tags__slug=slug).order_by("-id")
    ids = list(found.values_list("id", flat=True)[:PAGE])  # filter
    return JsonResponse({"ids": ids})


def article_loop(request: HttpRequest, alias: str) -> HttpResponse:
    """The same as ``articles`` without the prefetch: one query per article (an N+1)."""
    page = Article.objects.using(alias).order_by("-id")[:20]
    return JsonResponse(
        {a.pk: list(a.tags.values_list("id", flat=True)) for a in page}  # ids: loop
    )


def recipes(request: HttpRequest, alias: str) -> HttpResponse:
    """Each recipe's ingredients by name and whether vegan: two cheap related columns."""
    cheap = Prefetch("ingredients", queryset=Ingredient.objects.using(alias).only("name", "vegan"))
    page = Recipe.objects.using(alias).order_by("-id").prefetch_related(cheap)[:PAGE]
    return JsonResponse(
        {r.pk: [(i.name, i.vegan) for i in r.ingredients.all()] for r in page}  # fields
    )


def recipes_full(request: HttpRequest, alias: str) -> HttpResponse:
    """Each recipe's ingredients with their notes: a long text column is read too."""
    page = Recipe.objects.using(alias).order_by("-id").prefetch_related("ingredients")[:PAGE]
    return JsonResponse(
        {r.pk: [(i.name, i.notes) for i in r.ingredients.all()] for r in page}  # expensive
    )


def books(request: HttpRequest, alias: str) -> HttpResponse:
    page = Book.objects.using(alias).order_by("-id").prefetch_related("readers")[:PAGE]
    return JsonResponse({b.pk: [r.name for r in b.readers.all()] for b in page})  # written


def borrow(request: HttpRequest, alias: str) -> HttpResponse:
    """A loan per visit: the relation is written as often as the list reads it."""
    book = Book.objects.using(alias).order_by("-id")[0]
    reader_id = int(request.POST.get("reader", "1"))
    Loan.objects.using(alias).create(book=book, reader_id=reader_id)
    return HttpResponse(status=201)


def shirts(request: HttpRequest, alias: str) -> HttpResponse:
    page = Shirt.objects.using(alias).order_by("id").prefetch_related("colors")
    return JsonResponse({s.pk: [c.name for c in s.colors.all()] for s in page})  # small
