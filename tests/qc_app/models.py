"""Models for the query cache's tests: every kind of relation a write can go through."""

from __future__ import annotations

from django.db import models

from django_pareto.querycache import CachingManager


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)

    objects = CachingManager()


class Post(models.Model):
    title = models.CharField(max_length=100)
    votes = models.IntegerField(default=0)
    tags = models.ManyToManyField(Tag, related_name="posts", blank=True)
    readers: models.ManyToManyField[Reader, Reading] = models.ManyToManyField(
        "Reader", through="Reading", related_name="posts"
    )

    objects = CachingManager()


class Reader(models.Model):
    name = models.CharField(max_length=50)


class Reading(models.Model):
    """An explicit through model: saving it is a many-to-many change too."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE)
    reader = models.ForeignKey(Reader, on_delete=models.CASCADE)
    minutes = models.IntegerField(default=1)
