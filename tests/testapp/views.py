"""Views with a known number and kind of queries, for the capture tests."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from tests.testapp.models import Author, Book


def k_queries(request: HttpRequest, k: int | str) -> HttpResponse:
    for i in range(int(k)):  # re_path passes a string
        Book.objects.filter(pages__gte=i).exists()
    return HttpResponse(f"{k} queries")


def k_queries_on(request: HttpRequest, alias: str, k: int) -> HttpResponse:
    for _ in range(k):
        Author.objects.using(alias).count()
    return HttpResponse(f"{k} queries on {alias}")


def raw_sql(request: HttpRequest) -> HttpResponse:
    n = sum(1 for _ in Author.objects.raw("SELECT id, name FROM testapp_author"))
    return HttpResponse(str(n))


def cursor_sql(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM testapp_book WHERE pages > %s", [10])
        (count,) = cursor.fetchone()
    return HttpResponse(str(count))


def book_list(request: HttpRequest, author_id: int) -> JsonResponse:
    books = Book.objects.filter(author_id=author_id)
    # The classic N+1: one query for the books, then one per book for its author.
    return JsonResponse({"books": [f"{b.title} by {b.author.name}" for b in books]})


def book_page(request: HttpRequest, author_id: int) -> HttpResponse:
    # Lazy queryset: both the list query and the N+1 run inside the template.
    return render(
        request, "testapp/books.html", {"books": Book.objects.filter(author_id=author_id)}
    )


def same_sql_two_places(request: HttpRequest, author_id: int) -> HttpResponse:
    list(Book.objects.filter(author_id=author_id))  # in the view
    # The identical SQL again, evaluated lazily by the template this time.
    return render(
        request, "testapp/titles.html", {"books": Book.objects.filter(author_id=author_id)}
    )


def book_by_title(request: HttpRequest, title: str) -> HttpResponse:
    return HttpResponse(str(Book.objects.filter(title=title).count()))


def create_book(request: HttpRequest) -> HttpResponse:
    author = Author.objects.first()
    Book.objects.create(author=author, title=request.POST.get("title", "untitled"))
    return HttpResponse(status=201)


def boom(request: HttpRequest) -> HttpResponse:
    Author.objects.count()
    raise RuntimeError("boom")


async def async_view(request: HttpRequest) -> HttpResponse:
    count = await Book.objects.acount()
    return HttpResponse(str(count))
