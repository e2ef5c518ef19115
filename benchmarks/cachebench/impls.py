"""Worker-side adapters: what differs between the implementations once Django is set up.

- ``disabled(name)``: a context in which the implementation is installed but bypassed
  (cachalot's benchmark measures its control context this way);
- ``invalidate_all(name)``: empty the cache the implementation's own way (the "cold"
  context of cachalot's benchmark);
- ``stats(name)``: the implementation's own counters, when it has any.

Which implementation runs is read from the installed apps, not from the name, so that a
variant (another settings module of the same implementation) gets the same adapters.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

APPS = {
    "ours": "django_pareto.querycache",
    "cachalot": "cachalot",
    "cacheops": "cacheops",
}


def kind(name: str) -> str:
    """Which implementation this process runs: "ours", "cachalot", "cacheops" or "none"."""
    from django.apps import apps

    for implementation, app in APPS.items():
        if apps.is_installed(app):
            return implementation
    return "none"


def disabled(name: str) -> AbstractContextManager[object]:
    name = kind(name)
    if name == "ours":  # PLUG-IN POINT: django_pareto.querycache
        from django_pareto.querycache import disabled as ours_disabled

        context: AbstractContextManager[object] = ours_disabled()
        return context
    if name == "cachalot":
        # Not override_settings(CACHALOT_ENABLED=False): in cachalot 2.9.1 that still
        # serves reads from the cache. cachalot_disabled() bypasses it for this thread.
        from cachalot.api import cachalot_disabled  # type: ignore[import-untyped]

        cachalot_context: AbstractContextManager[object] = cachalot_disabled()
        return cachalot_context
    if name == "cacheops":
        return _cacheops_disabled()
    return nullcontext()


@contextmanager
def _cacheops_disabled() -> Iterator[None]:
    # cacheops reads CACHEOPS_ENABLED on every queryset and forgets its copy of a setting
    # on setting_changed, so override_settings switches it off and on again.
    from django.test import override_settings

    with override_settings(CACHEOPS_ENABLED=False):
        yield


def invalidate_all(name: str) -> None:
    name = kind(name)
    if name == "ours":  # PLUG-IN POINT: django_pareto.querycache
        _ours_invalidate_all()
    elif name == "cachalot":
        from cachalot.api import invalidate

        invalidate()  # every table of every database, in every cache
    elif name == "cacheops":
        from cacheops import invalidate_all as cacheops_invalidate_all  # type: ignore[import-untyped]

        cacheops_invalidate_all()  # FLUSHDB of cacheops' Redis db


def _ours_invalidate_all() -> None:
    """Ours: ``invalidate()`` with no table moves the generation every entry depends on.
    Not ``cache.clear()``: that would also drop the generation counters, and the next read
    would pay for creating them again, which no real invalidation costs."""
    from django_pareto.querycache import invalidate

    invalidate()


def stats(name: str) -> dict[str, Any]:
    if kind(name) == "ours":  # PLUG-IN POINT: django_pareto.querycache
        from django_pareto.querycache import metrics

        snapshot: dict[str, Any] = metrics.snapshot()
        # Counts only: they are summed over processes (a rate would not add up).
        return {k: v for k, v in snapshot.items() if isinstance(v, int)}
    return {}


def reset_stats(name: str) -> None:
    if kind(name) == "ours":
        from django_pareto.querycache import metrics

        metrics.reset()
