"""The benchmark app's models: a small versioned table and django-cachalot's ``Test``."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models


class Row(models.Model):
    """A row whose ``version`` only grows: a read that returns an older version than one
    already committed (and published) before the read began is a stale read."""

    version = models.BigIntegerField(default=0)
    payload = models.CharField(max_length=40, default="")

    # Declared so that type checkers know it even where this app is not installed (the
    # mypy plugin loads the test suite's settings).
    objects: ClassVar[models.Manager[Row]] = models.Manager()

    def __str__(self) -> str:
        return f"Row {self.pk} v{self.version}"


class Test(models.Model):
    """django-cachalot's benchmark model (``cachalot.tests.models.Test``), reduced to the
    columns its 12 benchmark queries touch, plus a ``version`` for the mixed read/write
    run's staleness check. Ordered by name, like cachalot's."""

    name = models.CharField(max_length=20)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    public = models.BooleanField(default=False)
    version = models.BigIntegerField(default=0)

    objects: ClassVar[models.Manager[Test]] = models.Manager()

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name
