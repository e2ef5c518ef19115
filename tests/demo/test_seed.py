"""The seed command: deterministic, skewed, sized by --scale, careful with existing data."""

from __future__ import annotations

import hashlib
import io
import math
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count

from blog.models import Article, Category, Comment, Follow, PageView, Profile
from blog.seed import DEMO_USERNAME, SeedPlan

pytestmark = pytest.mark.django_db

TINY = 0.02


def run_seed(scale: float = TINY, seed: int = 1, **options: Any) -> str:
    out = io.StringIO()
    call_command("seed", scale=scale, seed=seed, stdout=out, **options)
    return out.getvalue()


def fingerprint() -> str:
    """A digest of the seeded rows: equal digests mean identical data, ids included."""
    rows: list[Any] = [
        list(get_user_model().objects.order_by("pk").values_list("pk", "username", "date_joined")),
        list(Profile.objects.order_by("pk").values_list("user_id", "location", "bio")),
        list(Follow.objects.order_by("pk").values_list("follower_id", "followee_id", "created_at")),
        list(
            Article.objects.order_by("pk").values_list(
                "pk",
                "slug",
                "author_id",
                "category_id",
                "is_published",
                "published_at",
                "view_count",
            )
        ),
        list(Article.tags.through.objects.order_by("pk").values_list("article_id", "tag_id")),
        list(
            Article.favorited_by.through.objects.order_by("pk").values_list("article_id", "user_id")
        ),
        list(Comment.objects.order_by("pk").values_list("article_id", "author_id", "created_at")),
        list(
            PageView.objects.order_by("pk").values_list("article_id", "user_id", "ip", "created_at")
        ),
    ]
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def test_same_seed_same_data_other_seed_other_data() -> None:
    run_seed(seed=1)
    first = fingerprint()
    run_seed(seed=1, force=True)
    assert fingerprint() == first
    run_seed(seed=2, force=True)
    assert fingerprint() != first


def test_counts_follow_the_plan() -> None:
    output = run_seed(scale=TINY)
    plan = SeedPlan.for_scale(TINY)
    assert get_user_model().objects.count() == plan.users
    assert Profile.objects.count() == plan.users
    assert Article.objects.count() == plan.articles
    assert Category.objects.count() == 5
    assert Follow.objects.count() == plan.follows
    assert Article.favorited_by.through.objects.count() == plan.favorites
    assert Comment.objects.count() == plan.comments
    assert PageView.objects.count() == plan.page_views
    links = Article.tags.through.objects.count()
    assert 2.5 * plan.articles < links < 3.8 * plan.articles
    # The counts are printed at the end.
    assert f"{plan.articles:,}" in output and "page views" in output


def test_scale_one_plan_matches_the_documented_sizes() -> None:
    plan = SeedPlan.for_scale(1)
    assert (plan.users, plan.articles, plan.tags) == (1000, 8000, 40)
    assert (plan.favorites, plan.comments, plan.follows, plan.page_views) == (
        40_000,
        20_000,
        15_000,
        50_000,
    )


def test_data_is_skewed_like_a_real_site() -> None:
    run_seed(scale=0.05, seed=3)
    per_author = sorted(
        Article.objects.values("author").annotate(n=Count("pk")).values_list("n", flat=True),
        reverse=True,
    )
    top = math.ceil(len(per_author) * 0.10)
    assert sum(per_author[:top]) > 0.5 * sum(per_author)  # a few authors write most
    total = Article.objects.count()
    published = Article.objects.filter(is_published=True).count()
    assert 0.88 < published / total < 0.99
    assert not Article.objects.filter(is_published=True, published_at__isnull=True).exists()
    tags = list(
        Article.tags.through.objects.values("tag")
        .annotate(n=Count("pk"))
        .values_list("n", flat=True)
    )
    assert max(tags) > 3 * min(tags)  # some tags are far more popular
    views = sorted(
        Article.objects.annotate(n=Count("page_views")).values_list("n", flat=True), reverse=True
    )
    hits = math.ceil(len(views) * 0.10)
    assert sum(views[:hits]) > 0.4 * sum(views)  # a few hits get most of the traffic


def test_demo_user_has_something_to_read() -> None:
    run_seed()
    demo = get_user_model().objects.get(username=DEMO_USERNAME)  # password: see test_pages
    assert Follow.objects.filter(follower=demo).exists()
    assert demo.articles.exists()  # type: ignore[attr-defined]
    assert demo.favorites.exists()  # type: ignore[attr-defined]


def test_refuses_existing_data_without_force() -> None:
    run_seed()
    with pytest.raises(CommandError, match="--force"):
        run_seed()
    run_seed(force=True)  # wipes and seeds again
    assert get_user_model().objects.count() == SeedPlan.for_scale(TINY).users


def test_rejects_a_non_positive_scale() -> None:
    with pytest.raises(CommandError, match="scale"):
        run_seed(scale=0)
