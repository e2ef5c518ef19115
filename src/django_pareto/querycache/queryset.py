"""Opting in per queryset: ``.cache(timeout=...)`` and ``.nocache()``."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import models

from django_pareto.querycache.compiler import QUERY_FLAG

_QS = TypeVar("_QS", bound=models.QuerySet[Any])


def cached(queryset: _QS, timeout: float | None = None) -> _QS:
    """A copy of ``queryset`` whose reads are cached (``timeout`` seconds, else the
    setting's), invalidated whenever a table it reads is written."""
    clone = queryset._chain()  # type: ignore[attr-defined]
    setattr(clone.query, QUERY_FLAG, True if timeout is None else timeout)
    return clone  # type: ignore[no-any-return]


def uncached(queryset: _QS) -> _QS:
    """A copy of ``queryset`` that is never cached, whatever the mode."""
    clone = queryset._chain()  # type: ignore[attr-defined]
    setattr(clone.query, QUERY_FLAG, False)
    return clone  # type: ignore[no-any-return]


class CachingQuerySet(models.QuerySet[Any]):
    def cache(self, timeout: float | None = None) -> CachingQuerySet:
        return cached(self, timeout)

    def nocache(self) -> CachingQuerySet:
        return uncached(self)


class CachingManager(models.Manager.from_queryset(CachingQuerySet)):  # type: ignore[misc]
    """``objects = CachingManager()`` gives the model's querysets ``.cache()``."""
