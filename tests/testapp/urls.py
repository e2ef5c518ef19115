from __future__ import annotations

from django.urls import include, path, re_path

from tests.testapp import views

books = [
    path("by-author/<int:author_id>/", views.book_list, name="by-author"),
    path("page/<int:author_id>/", views.book_page, name="page"),
    path("twice/<int:author_id>/", views.same_sql_two_places, name="twice"),
    path("titled/<str:title>/", views.book_by_title, name="titled"),
    path("new/", views.create_book, name="create"),
]

urlpatterns = [
    path("k/<int:k>/", views.k_queries, name="k"),
    path("on/<str:alias>/<int:k>/", views.k_queries_on, name="k-on"),
    path("raw/", views.raw_sql, name="raw"),
    path("cursor/", views.cursor_sql),
    path("books/", include((books, "books"))),
    re_path(r"^legacy/(?P<k>[0-9]+)/$", views.k_queries, name="legacy"),
    path("boom/", views.boom, name="boom"),
    path("async/", views.async_view, name="async"),
    path("qc/", include("tests.qc_app.urls")),
    path("pareto/", include("django_pareto.urls")),
]
