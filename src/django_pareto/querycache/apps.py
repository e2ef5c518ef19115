from __future__ import annotations

from django.apps import AppConfig
from django.core.signals import setting_changed
from django.db.backends.signals import connection_created


class QueryCacheConfig(AppConfig):
    name = "django_pareto.querycache"
    label = "pareto_querycache"
    verbose_name = "django-pareto query cache"

    def ready(self) -> None:
        from django_pareto.querycache import checks, compiler, objects, runtime, writes  # noqa: F401

        def settings_changed(setting: str, **kwargs: object) -> None:
            if setting in ("PARETO_QUERYCACHE", "CACHES"):
                runtime.reset()

        connection_created.connect(writes.on_connection_created, dispatch_uid="pareto_qc")
        setting_changed.connect(settings_changed, weak=False, dispatch_uid="pareto_qc")
        writes.install_everywhere()
        compiler.install()
        objects.install()
        runtime.enable()
