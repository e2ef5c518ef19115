"""The JSON API, namespace "api" (included under /api/)."""

from __future__ import annotations

from django.urls import path

from blog import api

app_name = "api"

urlpatterns = [
    path("articles/", api.article_list, name="articles"),
    path("articles/<slug:slug>/", api.article_detail, name="article"),
    path("profiles/<str:username>/", api.profile_detail, name="profile"),
    path("tags/", api.tag_list, name="tags"),
]
