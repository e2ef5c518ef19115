"""Views whose queries the index analyzers judge from a recorded run."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

from tests.index_app.models import Hit, Item, Kind


def item_by_sku(request: HttpRequest, sku: str) -> HttpResponse:
    item = Item.objects.filter(sku=sku).first()  # sku has no index: I001
    if item is not None:
        Hit.objects.create(item=item, path=request.path, ip="10.0.0.1", created_at=item.created_at)
    return JsonResponse({"slug": item.slug if item else None})


def kind(request: HttpRequest, code: str) -> HttpResponse:
    found = Kind.objects.filter(code=code).first()  # 5 rows: no index wanted
    return JsonResponse({"label": found.label if found else None})
