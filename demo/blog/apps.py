from __future__ import annotations

from django.apps import AppConfig


class BlogConfig(AppConfig):
    name = "blog"
    label = "blog"
    verbose_name = "Blog (django-pareto demo)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from blog import signals  # noqa: F401  (creates a Profile for every new user)
