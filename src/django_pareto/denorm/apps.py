from __future__ import annotations

from django.apps import AppConfig


class DenormConfig(AppConfig):
    name = "django_pareto.denorm"
    label = "pareto_denorm"
    verbose_name = "django-pareto mirrored relations"

    def ready(self) -> None:
        from django_pareto.denorm import handlers, registry

        # Resolves every mirror: a relation or field that doesn't exist fails here, at
        # startup, with the mirror named (ImproperlyConfigured).
        handlers.connect(registry.rebuild())
