from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class ParetoConfig(AppConfig):
    name = "django_pareto"
    label = "pareto"
    verbose_name = "django-pareto"

    def ready(self) -> None:
        from django.core.signals import setting_changed
        from django.db.backends.signals import connection_created

        from django_pareto import checks  # noqa: F401  (registers the system checks)
        from django_pareto.capture import recorder

        # Every new connection gets the SQL hook, including ones opened in threads that
        # sync_to_async uses under ASGI; the middleware also installs it per request.
        connection_created.connect(recorder.on_connection_created, dispatch_uid="pareto-hook")
        setting_changed.connect(_settings_changed, dispatch_uid="pareto-settings")


def _settings_changed(setting: str, **kwargs: Any) -> None:
    if setting == "PARETO":
        from django_pareto import conf
        from django_pareto.capture.writer import reset_writer

        conf.reset()
        reset_writer()
