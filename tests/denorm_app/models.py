"""Models for the denorm tests: every kind of relation a mirror can copy.

- ``Article.tags``: Django's own through table, mirrored by ids and by fields, and from
  the other side (``Tag.article_ids``);
- ``Article.readers``: an explicit through model (``Reading``, duplicates allowed),
  mirrored from both sides;
- ``Person.follows``: a relation from a model to itself, both directions;
- ``PgArticle``/``PgTag``: the array mirror and GIN indexes, only on PostgreSQL
  (``required_db_vendor``: never migrated on SQLite).
"""

from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex
from django.db import models

from django_pareto.denorm import MirrorArrayField, MirrorField


class Tag(models.Model):
    name = models.CharField(max_length=50)
    slug = models.SlugField(max_length=50)
    hits = models.IntegerField(default=0)  # not mirrored: saving it recomputes nothing
    article_ids = MirrorField("articles")


class Reader(models.Model):
    name = models.CharField(max_length=50)
    article_ids = MirrorField("articles")


class Article(models.Model):
    title = models.CharField(max_length=100)
    tags = models.ManyToManyField(Tag, related_name="articles", blank=True)
    readers = models.ManyToManyField(Reader, through="Reading", related_name="articles")
    tag_ids = MirrorField("tags")
    tag_info = MirrorField("tags", fields=["name", "slug"])
    reader_ids = MirrorField("readers")
    reader_names = MirrorField("readers", fields=["name"])


class Reading(models.Model):
    """An explicit through model: saved and deleted directly as well as by the managers."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE)
    reader = models.ForeignKey(Reader, on_delete=models.CASCADE)
    minutes = models.IntegerField(default=1)


class Person(models.Model):
    name = models.CharField(max_length=50)
    follows = models.ManyToManyField("self", symmetrical=False, related_name="followers")
    friends = models.ManyToManyField("self")  # symmetrical: Django writes both directions
    following_ids = MirrorField("follows")
    follower_ids = MirrorField("followers")
    friend_ids = MirrorField("friends")


class PgTag(models.Model):
    name = models.CharField(max_length=50)

    class Meta:
        required_db_vendor = "postgresql"


class PgArticle(models.Model):
    title = models.CharField(max_length=100)
    tags = models.ManyToManyField(PgTag, related_name="articles", blank=True)
    tag_pks = MirrorArrayField("tags")
    tag_ids = MirrorField("tags")
    tag_info = MirrorField("tags", fields=["name"])

    class Meta:
        required_db_vendor = "postgresql"
        indexes = [
            GinIndex(fields=["tag_pks"], name="pgarticle_tag_pks_gin"),
            GinIndex(
                fields=["tag_ids"], name="pgarticle_tag_ids_gin", opclasses=["jsonb_path_ops"]
            ),
            GinIndex(
                fields=["tag_info"], name="pgarticle_tag_info_gin", opclasses=["jsonb_path_ops"]
            ),
        ]
