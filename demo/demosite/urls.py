"""URL configuration of the demo site: the HTML site at / and a small JSON API at /api/."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("api/", include("blog.api_urls")),  # namespace "api"
    path("pareto/", include("django_pareto.urls")),  # the staff-only dashboard
    path("", include("blog.urls")),  # namespace "blog"
]
