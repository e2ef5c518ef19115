from __future__ import annotations

from django.urls import path

from tests.cache_app import views

# Static routes on purpose: a page cache is judged per route. "pg/..." runs on PostgreSQL.
names = ["catalog", "new_category", "stats_a", "stats_b", "board", "visits", "menu"]
urlpatterns = [
    path(f"{prefix}{name}/", getattr(views, name), {"alias": alias}, name=f"{prefix}{name}")
    for prefix, alias in (("", "default"), ("pg/", "postgres"))
    for name in names
]
