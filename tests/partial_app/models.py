"""Models for partial-index advice: rare and common conditions, one served already, one tiny."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Desk(models.Model):
    """A tiny table: even a rare condition on it is a scan of one page."""

    name = models.CharField(max_length=30)
    closed_at = models.DateTimeField(null=True)


class Story(models.Model):
    """The big table: a rare flag, a rare NULL, and the common values of others."""

    desk = models.CharField(max_length=20)  # 20 desks: selective enough to key an index
    headline = models.CharField(max_length=100)
    is_featured = models.BooleanField(default=False)  # 1% True, and True is what is asked
    is_deleted = models.BooleanField(default=False)  # 1% True, but False is what is asked
    published_at = models.DateTimeField()
    reviewed_at = models.DateTimeField(null=True)  # 2% NULL: the review queue


class Job(models.Model):
    """A job log: failures are rare; the live (unarchived) jobs have a partial index already."""

    name = models.CharField(max_length=40)
    created_at = models.DateTimeField()
    failed_at = models.DateTimeField(null=True)  # 0.5% set
    archived_at = models.DateTimeField(null=True)  # 3% NULL: the live jobs
    paused_at = models.DateTimeField(null=True, db_index=True)  # 1% set, indexed already

    class Meta:
        indexes = [
            models.Index(
                fields=["-created_at"],
                condition=Q(archived_at__isnull=True),
                name="partial_job_live_idx",
            )
        ]
