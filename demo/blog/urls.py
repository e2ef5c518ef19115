"""HTML pages and write endpoints, namespace "blog"."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from blog import views

app_name = "blog"

urlpatterns = [
    path("", views.home, name="home"),
    path("feed/", views.feed, name="feed"),
    path("tags/", views.tag_list, name="tags"),
    path("tag/<slug:slug>/", views.tag_detail, name="tag"),
    path("category/<slug:code>/", views.category_detail, name="category"),
    path("search/", views.search, name="search"),
    path("article/<slug:slug>/", views.article_detail, name="article"),
    path("article/<slug:slug>/comment/", views.comment_create, name="comment"),
    path("article/<slug:slug>/favorite/", views.favorite_toggle, name="favorite"),
    path("profile/<str:username>/", views.profile_detail, name="profile"),
    path("profile/<str:username>/favorites/", views.profile_favorites, name="profile_favorites"),
    path("profile/<str:username>/follow/", views.follow_toggle, name="follow"),
    path("editor/", views.publish, name="publish"),
    path("login/", auth_views.LoginView.as_view(template_name="blog/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
