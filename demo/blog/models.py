"""Data model of the demo publishing platform.

Written the way a first version usually is. The performance problems it carries are
deliberate and listed in demo/PROBLEMS.md; comments below name them by id (P.., D..).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from blog import mirrors
from django_pareto.denorm import MirrorField


class Category(models.Model):
    """A tiny lookup table (5 rows). ``code`` has no index and needs none (decoy D1)."""

    code = models.CharField(max_length=20)
    name = models.CharField(max_length=50)

    class Meta:
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Profile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    bio = models.TextField(blank=True)
    image = models.URLField(blank=True)
    # Filtered by equality on the profile page, never indexed (P13).
    location = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return f"profile of {self.user_id}"


class Follow(models.Model):
    """``follower`` follows ``followee`` (users following users)."""

    follower = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="following_set"
    )
    followee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="follower_set"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="blog_follow_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.follower_id} follows {self.followee_id}"


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)
    slug = models.SlugField(max_length=60, unique=True)

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("blog:tag", args=[self.slug])


class Article(models.Model):
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="articles"
    )
    title = models.CharField(max_length=200)  # searched with icontains (P14)
    slug = models.SlugField(max_length=255, unique=True)  # looked up by its unique index (D3)
    description = models.CharField(max_length=300, blank=True)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)  # ordered by per author (P10)
    published_at = models.DateTimeField(null=True, blank=True)  # ordered by everywhere (P9)
    is_published = models.BooleanField(default=True)  # ~95% True: no index wanted (D2)
    view_count = models.PositiveIntegerField(default=0)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="articles")
    tags = models.ManyToManyField(Tag, related_name="articles", blank=True)
    # Grows without bound and is read for every feed item (P15).
    favorited_by = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="favorites", blank=True
    )
    # The copies pareto.D001 advises (P15), there only once `pareto fix` has written their
    # migration and DEMO_FIXED=1 (see blog/mirrors.py); django_pareto.denorm keeps them in sync.
    if "tag_info" in mirrors.APPLIED:
        tag_info = MirrorField("tags", fields=["name", "slug"])
    if "favorited_by_ids" in mirrors.APPLIED:
        favorited_by_ids = MirrorField("favorited_by")

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("blog:article", args=[self.slug])


class Comment(models.Model):
    # Filtered by article and ordered by created_at: the FK index alone leaves a sort (P11).
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comments"
    )
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"comment {self.pk} on {self.article_id}"


class PageView(models.Model):
    """A write-heavy log: one row per article view, never read by the site.

    Someone indexed it "for the analytics we will build later": every index below costs
    each INSERT and no query uses any of them (P17-P22).
    """

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="page_views")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="page_views",
    )
    path = models.CharField(max_length=300, db_index=True)
    ip = models.CharField(max_length=45)
    user_agent = models.CharField(max_length=300, blank=True)
    referrer = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["ip", "created_at"], name="blog_pv_ip_created_idx"),
            models.Index(fields=["referrer"], name="blog_pv_referrer_idx"),
        ]

    def __str__(self) -> str:
        return f"view of {self.article_id} at {self.created_at:%Y-%m-%d %H:%M}"
