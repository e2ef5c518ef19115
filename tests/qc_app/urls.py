from __future__ import annotations

from django.urls import path

from tests.qc_app import views

urlpatterns = [
    path("titles/", views.titles),
    path("counted/", views.counted),
    path("cookie/", views.with_cookie),
    path("fragment/", views.fragment),
]
