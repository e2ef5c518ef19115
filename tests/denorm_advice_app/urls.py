from __future__ import annotations

from django.urls import path

from tests.denorm_advice_app import views

# "pg/..." runs the same views on PostgreSQL.
names = {
    "articles": views.articles,
    "tagged": views.tagged,
    "article_loop": views.article_loop,
    "recipes": views.recipes,
    "recipes_full": views.recipes_full,
    "books": views.books,
    "borrow": views.borrow,
    "shirts": views.shirts,
}
urlpatterns = [
    path(f"{prefix}{name}/", view, {"alias": alias}, name=f"{prefix}{name}")
    for prefix, alias in (("", "default"), ("pg/", "postgres"))
    for name, view in names.items()
]
