from __future__ import annotations

from django.urls import path

from tests.index_app import views

urlpatterns = [
    path("items/<str:sku>/", views.item_by_sku),
    path("kinds/<str:code>/", views.kind),
]
