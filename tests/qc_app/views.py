from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from django_pareto.querycache import cache_view
from tests.qc_app.models import Post, Tag


@cache_view(timeout=60)
def titles(request: HttpRequest) -> HttpResponse:
    names = ", ".join(p.title for p in Post.objects.order_by("id"))
    return HttpResponse(f"{Tag.objects.count()} tags; {names}")


@cache_view
def counted(request: HttpRequest) -> HttpResponse:
    """Writes on every view: must never be served from the cache."""
    Post.objects.filter(pk=request.GET.get("pk")).update(votes=1)
    return HttpResponse(str(Post.objects.count()))


@cache_view
def with_cookie(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(str(Post.objects.count()))
    response.set_cookie("seen", "1")
    return response


def fragment(request: HttpRequest) -> HttpResponse:
    return render(request, "qc_app/fragment.html", {"tags": Tag.objects.order_by("name")})
