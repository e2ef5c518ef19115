from __future__ import annotations

from django.urls import path

from tests.nplusone_app import views

names = [
    "forward_fk",
    "reverse_one_to_one",
    "to_field",
    "reverse_fk",
    "many_to_many",
    "reverse_many_to_many",
    "count",
    "exists",
    "prefetch_bypassed",
    "template_loop",
    "raw_loop",
    "joined",
    "prefetched",
    "annotated",
    "under_threshold",
    "different_sites",
    "bulk",
    "repeated",
]
urlpatterns = [path(f"<str:alias>/{name}/", getattr(views, name), name=name) for name in names]
