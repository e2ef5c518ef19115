"""Models for the index analyzers' tests: one of each case an index advisor must tell apart."""

from __future__ import annotations

from django.db import models


class Kind(models.Model):
    """A tiny lookup table: a scan of a few rows costs as much as an index probe."""

    code = models.CharField(max_length=20)
    label = models.CharField(max_length=50)


class Member(models.Model):
    """Looked up case-insensitively by handle (iexact); the unique index cannot serve it."""

    handle = models.CharField(max_length=50, unique=True)
    city = models.CharField(max_length=50)


class Item(models.Model):
    """The big table: filtered by an unindexed column, sorted by another, ~95% visible."""

    slug = models.SlugField(max_length=60, unique=True)
    owner = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="items")
    kind = models.ForeignKey(Kind, on_delete=models.CASCADE, related_name="items")
    sku = models.CharField(max_length=20)  # unindexed, selective
    visible = models.BooleanField(default=True)  # ~95% true: an index alone would not pay
    score = models.IntegerField(default=0)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            # A duplicate pair: the second is the first with another name.
            models.Index(fields=["score"], name="index_item_score_idx"),
            models.Index(fields=["score"], name="index_item_score_dup"),
            # A prefix of this one ("score") is the index above: prefix-redundant.
            models.Index(fields=["score", "created_at"], name="index_item_score_crt"),
        ]


class Hit(models.Model):
    """A write-only log: every index on it is maintained on each insert and never read."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="hits")
    path = models.CharField(max_length=200)
    ip = models.CharField(max_length=45)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["ip", "created_at"], name="index_hit_ip_crt_idx")]
