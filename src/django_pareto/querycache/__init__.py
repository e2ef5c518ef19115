"""An ORM query cache and a page/fragment cache that are never stale.

Add ``"django_pareto.querycache"`` to ``INSTALLED_APPS`` and point
``PARETO_QUERYCACHE["CACHE"]`` at a shared cache (Redis in production). Then cache a
queryset with ``cached(qs)`` or ``Model.objects.cache()`` (``CachingManager``), whole
models with ``PARETO_QUERYCACHE["MODELS"]``, or every read with ``"MODE": "all"``; cache
views with ``@cache_view`` and template fragments with ``{% cachefragment %}``. Every
write, from the ORM or raw SQL, invalidates what read its tables once it has committed.
"""

from __future__ import annotations

from django_pareto.querycache import metrics
from django_pareto.querycache.queryset import CachingManager, CachingQuerySet, cached, uncached
from django_pareto.querycache.runtime import disabled
from django_pareto.querycache.views import cache_view

__all__ = [
    "CachingManager",
    "CachingQuerySet",
    "cache_view",
    "cached",
    "disabled",
    "invalidate",
    "metrics",
    "uncached",
]


def invalidate(*tables: str) -> None:
    """Drop every cached result that read one of ``tables`` (all of them when none are
    named): for writes the cache can't see, e.g. another application's."""
    from django_pareto.querycache import runtime

    rt = runtime.get()
    if rt is not None:
        rt.invalidate(tables)
