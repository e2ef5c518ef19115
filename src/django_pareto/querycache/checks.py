"""System checks of the query cache's configuration (registered when the app is ready)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from django_pareto.querycache import conf

# Backends whose storage lives inside one process: an invalidation made by one worker
# never reaches the copies of the others.
PER_PROCESS_BACKENDS = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@register(Tags.caches)
def check_querycache(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        qc = conf.load()
    except (ImproperlyConfigured, TypeError, ValueError) as exc:
        return [Error(str(exc), hint="See docs/querycache.md.", id="pareto.E004")]
    caches = getattr(settings, "CACHES", {})
    if qc.CACHE not in caches:
        return [
            Error(
                f"PARETO_QUERYCACHE['CACHE'] is {qc.CACHE!r}, not a key of CACHES.",
                hint="Name a cache shared by every process of the site (Redis, memcached).",
                id="pareto.E004",
            )
        ]
    backend = caches[qc.CACHE].get("BACKEND", "")
    if backend in PER_PROCESS_BACKENDS:
        return [
            Warning(
                f"The query cache uses {backend.rsplit('.', 1)[-1]}, a cache of one process: "
                "with several worker processes, a write in one leaves the others' copies stale.",
                hint="Point PARETO_QUERYCACHE['CACHE'] at Redis or memcached in production.",
                id="pareto.W003",
            )
        ]
    return []
