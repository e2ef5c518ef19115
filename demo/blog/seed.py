"""Deterministic, skewed seed data for the demo site.

The same ``scale`` and ``seed`` give the same rows (same primary keys, same values) on
any database: every random draw comes from one ``random.Random(seed)`` and every
timestamp from the fixed ``BASE_DATE``.

Skew, like a real publishing site:
- authorship follows a Zipf law: a few authors write most articles;
- article popularity (favorites, comments, page views) and user activity are Zipf-like;
- some tags are far more popular than others; ~95% of articles are published.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any, TypeVar

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.color import no_style
from django.db import connections, models, transaction
from django.utils.text import slugify

from blog import corpus
from blog.models import Article, Category, Comment, Follow, PageView, Profile, Tag

BASE_DATE = datetime(2025, 1, 1, tzinfo=UTC)
ARTICLE_SPAN = timedelta(days=730)  # articles were written over the two years before BASE_DATE
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"  # every seeded user shares this password
PUBLISHED_SHARE = 0.95
BATCH_SIZE = 2000

# Zipf-Mandelbrot laws: the item at rank r (0-based) of n has weight 1 / (r + 1 + q * n) ** s.
# (s, q): q flattens the very top so that the skew looks the same at every scale.
AUTHOR_SKEW = (1.5, 0.01)  # who writes: the top 10% of authors write ~70% of articles
POPULARITY_SKEW = (0.9, 0.002)  # which articles get read, favorited, commented
ACTIVITY_SKEW = (0.8, 0.01)  # which users read, favorite, comment, follow
TAG_SKEW = (1.0, 0.0)  # which tags are used
CITY_SKEW = (0.5, 0.0)  # where users live
CATEGORY_WEIGHTS = (45, 15, 15, 15, 10)  # aligned with corpus.CATEGORIES
TAGS_PER_ARTICLE = ((1, 10), (2, 20), (3, 30), (4, 25), (5, 15))  # (count, weight): mean 3.15

T = TypeVar("T")
Advance = Callable[[str, int], None]  # (stage, rows inserted); 0 rows = stage starts


@dataclass(frozen=True)
class SeedPlan:
    """Target row counts for a scale (scale 1 is a small but realistic site)."""

    users: int
    articles: int
    tags: int
    favorites: int
    comments: int
    follows: int
    page_views: int
    categories: int = len(corpus.CATEGORIES)

    @classmethod
    def for_scale(cls, scale: float) -> SeedPlan:
        if not scale > 0:
            raise ValueError("scale must be > 0")
        users = max(12, round(1000 * scale))
        articles = max(40, round(8000 * scale))
        published = round(articles * PUBLISHED_SHARE)
        return cls(
            users=users,
            articles=articles,
            tags=max(8, round(40 * math.sqrt(scale))),
            # Unique pairs: never ask for more than a fraction of the possible pairs.
            favorites=min(round(40_000 * scale), users * published // 4),
            comments=round(20_000 * scale),
            follows=min(round(15_000 * scale), users * (users - 1) // 4),
            page_views=round(50_000 * scale),
        )

    def stages(self) -> dict[str, int]:
        """Progress stages and their expected row counts (tag links are estimated)."""
        return {
            "users": self.users,
            "profiles": self.users,
            "follows": self.follows,
            "tags": self.tags + self.categories,
            "articles": self.articles,
            "article tags": round(self.articles * 3.15),
            "favorites": self.favorites,
            "comments": self.comments,
            "page views": self.page_views,
        }


def seed_tables() -> list[str]:
    """The tables the seed owns and wipes: the blog's, the users' and the sessions."""
    user_model = get_user_model()
    owned: list[type[models.Model]] = [
        PageView,
        Comment,
        Article,
        Tag,
        Category,
        Follow,
        Profile,
        user_model,
    ]
    tables: list[str] = []
    for model in owned:
        tables.append(model._meta.db_table)
        for field in model._meta.local_many_to_many:
            tables.append(field.remote_field.through._meta.db_table)
    if apps.is_installed("django.contrib.sessions"):
        tables.append(apps.get_model("sessions", "Session")._meta.db_table)
    return tables


def has_data(using: str = "default") -> bool:
    return (
        get_user_model().objects.using(using).exists()
        or Article.objects.using(using).exists()
        or Tag.objects.using(using).exists()
        or Category.objects.using(using).exists()
    )


def wipe(using: str = "default") -> None:
    """Delete every row the seed owns and reset their id sequences (ids start at 1 again).

    Rows of other apps that reference users are deleted with them (TRUNCATE ... CASCADE
    on PostgreSQL).
    """
    connection = connections[using]
    existing = set(connection.introspection.table_names())
    tables = [table for table in seed_tables() if table in existing]
    statements = connection.ops.sql_flush(
        no_style(), tables, reset_sequences=True, allow_cascade=True
    )
    connection.ops.execute_sql_flush(statements)


@functools.cache
def _password_hash() -> str:
    """Hashed once per process: hashing 1,000 passwords would take minutes."""
    return make_password(DEMO_PASSWORD)


def _zipf_cum_weights(n: int, exponent: float, offset: float) -> list[float]:
    return list(accumulate(1.0 / (rank + 1 + offset) ** exponent for rank in range(n)))


class _Sampler:
    """Weighted draws from ``items``, ranked most to least likely (see the *_SKEW laws)."""

    def __init__(self, rng: random.Random, items: Sequence[T], skew: tuple[float, float]) -> None:
        self.rng = rng
        self.items = list(items)
        exponent, flatten = skew
        self.cum = _zipf_cum_weights(len(self.items), exponent, flatten * len(self.items))

    def draw(self, k: int) -> list[Any]:
        return self.rng.choices(self.items, cum_weights=self.cum, k=k)


def _chunks(rows: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _insert(
    model: type[models.Model],
    rows: Sequence[models.Model],
    stage: str,
    advance: Advance,
    using: str,
) -> None:
    for chunk in _chunks(rows, BATCH_SIZE):
        model.objects.using(using).bulk_create(chunk, batch_size=BATCH_SIZE)
        advance(stage, len(chunk))


def _unique_pairs(
    rng: random.Random,
    left: _Sampler,
    right: _Sampler,
    target: int,
    exclude: Callable[[Any, Any], bool] = lambda a, b: False,
    seen: set[tuple[Any, Any]] | None = None,
) -> list[tuple[Any, Any]]:
    """``target`` distinct (left, right) pairs drawn from the two skewed samplers."""
    seen = set() if seen is None else seen
    pairs: list[tuple[Any, Any]] = []
    attempts = 0
    while len(pairs) < target and attempts < 50:
        attempts += 1
        need = target - len(pairs)
        for a, b in zip(left.draw(need * 2), right.draw(need * 2), strict=True):
            if (a, b) in seen or exclude(a, b):
                continue
            seen.add((a, b))
            pairs.append((a, b))
            if len(pairs) == target:
                break
    return pairs


def _later(rng: random.Random, start: datetime, bias: float = 3.0) -> datetime:
    """A moment between ``start`` and BASE_DATE, most of them soon after ``start``."""
    span = (BASE_DATE - start).total_seconds()
    return start + timedelta(seconds=span * rng.random() ** bias)


def _title(rng: random.Random) -> str:
    pattern = rng.choice(corpus.TITLE_PATTERNS)
    tool, tool2 = rng.sample(corpus.TOOLS, 2)
    title = pattern.format(
        verb=rng.choice(corpus.VERBS),
        gerund=rng.choice(corpus.GERUNDS),
        topic=rng.choice(corpus.TOPICS),
        tool=tool,
        tool2=tool2,
        n=rng.choice((3, 5, 7, 10, 12)),
    )
    return title[0].upper() + title[1:]


def _sentence(rng: random.Random) -> str:
    subject, verb, rest = (rng.choice(part) for part in corpus.SENTENCE_PARTS)
    return f"{subject} {verb} {rest}."


def _tag_names(count: int) -> list[str]:
    names = list(corpus.TAGS[:count])
    for suffix in corpus.TAG_SUFFIXES:
        for base in corpus.TAGS:
            if len(names) >= count:
                return names
            names.append(f"{base}-{suffix}")
    index = 0
    while len(names) < count:
        index += 1
        names.append(f"topic-{index}")
    return names


def _usernames(rng: random.Random, count: int) -> list[str]:
    names = [DEMO_USERNAME]
    taken = set(names)
    while len(names) < count:
        first, last = rng.choice(corpus.FIRST_NAMES), rng.choice(corpus.LAST_NAMES)
        base = rng.choice((f"{first}_{last}", f"{first}{last}", f"{first[0]}{last}", first))
        name, suffix = base, 1
        while name in taken:
            suffix += 1
            name = f"{base}{suffix}"
        taken.add(name)
        names.append(name)
    return names


def seed(
    scale: float = 1.0,
    seed: int = 0,
    *,
    using: str = "default",
    advance: Advance | None = None,
) -> dict[str, int]:
    """Fill an empty database (call :func:`wipe` first). Returns the row counts."""
    plan = SeedPlan.for_scale(scale)
    step: Advance = advance or (lambda stage, n: None)
    rng = random.Random(seed)
    user_model = get_user_model()
    with transaction.atomic(using=using):
        # Users and profiles.
        step("users", 0)
        usernames = _usernames(rng, plan.users)
        password = _password_hash()
        user_rows = []
        for name in usernames:
            first, _, last = name.partition("_")
            joined = BASE_DATE - ARTICLE_SPAN - timedelta(days=365 * rng.random())
            user_rows.append(
                user_model(
                    username=name,
                    email=f"{name}@example.com",
                    password=password,
                    first_name=first.rstrip("0123456789").title()[:150],
                    last_name=last.rstrip("0123456789").title()[:150],
                    date_joined=joined,
                    is_active=True,
                )
            )
        _insert(user_model, user_rows, "users", step, using)
        users = list(user_model.objects.using(using).order_by("pk"))
        demo = users[0]
        step("profiles", 0)
        cities = list(corpus.CITIES)
        rng.shuffle(cities)
        city = _Sampler(rng, cities, CITY_SKEW)
        profiles = [
            Profile(
                user_id=user.pk,
                bio=rng.choice(corpus.BIOS),
                image=f"https://images.example.com/avatars/{user.pk % 97}.png",
                location=city.draw(1)[0],
            )
            for user in users
        ]
        _insert(Profile, profiles, "profiles", step, using)

        # Who writes (authors) and who reads (activity): two independent Zipf rankings.
        by_writing = users[1:]
        rng.shuffle(by_writing)
        by_writing.insert(min(4, len(by_writing)), demo)  # "demo" is a prolific author
        authors = _Sampler(rng, by_writing, AUTHOR_SKEW)
        by_activity = users[1:]
        rng.shuffle(by_activity)
        by_activity.insert(0, demo)  # ...and the most active reader
        readers = _Sampler(rng, by_activity, ACTIVITY_SKEW)

        step("follows", 0)
        # Follows: active readers follow prolific authors; "demo" follows the top authors.
        top_authors = [u for u in by_writing[:15] if u.pk != demo.pk]
        seen: set[tuple[Any, Any]] = {(demo, author) for author in top_authors}
        follow_pairs = [(demo, author) for author in top_authors]
        follow_pairs += _unique_pairs(
            rng,
            readers,
            authors,
            plan.follows - len(follow_pairs),
            exclude=lambda a, b: a.pk == b.pk,
            seen=seen,
        )
        follows = [
            Follow(
                follower_id=a.pk,
                followee_id=b.pk,
                created_at=BASE_DATE
                - timedelta(seconds=ARTICLE_SPAN.total_seconds() * rng.random()),
            )
            for a, b in follow_pairs
        ]
        follows.sort(key=lambda f: f.created_at)
        _insert(Follow, follows, "follows", step, using)

        # Categories and tags.
        step("tags", 0)
        categories = [Category(code=code, name=name) for code, name in corpus.CATEGORIES]
        _insert(Category, categories, "tags", step, using)
        categories = list(Category.objects.using(using).order_by("pk"))
        tag_rows = [Tag(name=name, slug=slugify(name)) for name in _tag_names(plan.tags)]
        _insert(Tag, tag_rows, "tags", step, using)
        tags = list(Tag.objects.using(using).order_by("pk"))
        tag_sampler = _Sampler(rng, tags, TAG_SKEW)

        # Articles, in the order they were written (ids grow with created_at).
        step("articles", 0)
        paragraphs = [
            " ".join(_sentence(rng) for _ in range(rng.randint(3, 6))) for _ in range(300)
        ]
        category_cum = list(accumulate(CATEGORY_WEIGHTS))
        created = sorted(
            BASE_DATE - timedelta(seconds=ARTICLE_SPAN.total_seconds() * rng.random())
            for _ in range(plan.articles)
        )
        article_rows = []
        for index, created_at in enumerate(created):
            title = _title(rng)
            published = rng.random() < PUBLISHED_SHARE
            article_rows.append(
                Article(
                    author_id=authors.draw(1)[0].pk,
                    title=title,
                    slug=f"{slugify(title)[:80]}-{index + 1:x}",
                    description=_sentence(rng),
                    body="\n\n".join(rng.sample(paragraphs, rng.randint(3, 6))),
                    created_at=created_at,
                    published_at=(
                        created_at + timedelta(seconds=rng.uniform(60, 3 * 86400))
                        if published
                        else None
                    ),
                    is_published=published,
                    category_id=rng.choices(categories, cum_weights=category_cum)[0].pk,
                )
            )
        # Popularity decides page views (hence view_count), favorites and comments.
        by_popularity = [a for a in article_rows if a.is_published]
        rng.shuffle(by_popularity)
        popular = _Sampler(rng, by_popularity, POPULARITY_SKEW)
        viewed = popular.draw(plan.page_views)
        for article in viewed:
            article.view_count += 1
        _insert(Article, article_rows, "articles", step, using)
        articles = article_rows
        if any(a.pk is None for a in articles):
            raise RuntimeError("the seed needs a database whose bulk_create returns primary keys")

        # Tags of each article.
        step("article tags", 0)
        tag_through = Article.tags.through
        counts, weights = zip(*TAGS_PER_ARTICLE, strict=True)
        tag_links = []
        for article in articles:
            wanted = min(rng.choices(counts, weights=weights)[0], len(tags))
            chosen: list[Tag] = []
            while len(chosen) < wanted:
                tag = tag_sampler.draw(1)[0]
                if tag not in chosen:
                    chosen.append(tag)
            tag_links += [tag_through(article_id=article.pk, tag_id=tag.pk) for tag in chosen]
        _insert(tag_through, tag_links, "article tags", step, using)

        step("favorites", 0)
        # Favorites: active readers favorite popular articles (unique pairs).
        fav_through = Article.favorited_by.through
        favorite_pairs = _unique_pairs(rng, readers, popular, plan.favorites)
        favorites = [fav_through(user_id=u.pk, article_id=a.pk) for u, a in favorite_pairs]
        _insert(fav_through, favorites, "favorites", step, using)

        step("comments", 0)
        # Comments on popular articles, after they were published.
        comments = [
            Comment(
                article_id=article.pk,
                author_id=author.pk,
                body=rng.choice(corpus.COMMENTS),
                created_at=_later(rng, article.published_at),
            )
            for article, author in zip(
                popular.draw(plan.comments), readers.draw(plan.comments), strict=True
            )
        ]
        comments.sort(key=lambda c: c.created_at)
        _insert(Comment, comments, "comments", step, using)

        step("page views", 0)
        # Page views: 40% by logged-in readers, the rest anonymous.
        views = []
        for article in viewed:
            viewer = readers.draw(1)[0] if rng.random() < 0.4 else None
            ip = ".".join(str(rng.randint(1, 254)) for _ in range(4))
            views.append(
                PageView(
                    article_id=article.pk,
                    user_id=viewer.pk if viewer is not None else None,
                    path=f"/article/{article.slug}/",
                    ip=ip,
                    user_agent=rng.choice(corpus.USER_AGENTS),
                    referrer=rng.choice(corpus.REFERRERS),
                    created_at=_later(rng, article.published_at, bias=2.0),
                )
            )
        views.sort(key=lambda v: v.created_at)
        _insert(PageView, views, "page views", step, using)
    _analyze(using)
    return counts_of(using)


def _analyze(using: str) -> None:
    """Refresh the planner statistics, as autovacuum soon would on a live PostgreSQL."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table in seed_tables():
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")


def counts_of(using: str = "default") -> dict[str, int]:
    return {
        "users": get_user_model().objects.using(using).count(),
        "profiles": Profile.objects.using(using).count(),
        "follows": Follow.objects.using(using).count(),
        "categories": Category.objects.using(using).count(),
        "tags": Tag.objects.using(using).count(),
        "articles": Article.objects.using(using).count(),
        "published articles": Article.objects.using(using).filter(is_published=True).count(),
        "article tags": Article.tags.through.objects.using(using).count(),
        "favorites": Article.favorited_by.through.objects.using(using).count(),
        "comments": Comment.objects.using(using).count(),
        "page views": PageView.objects.using(using).count(),
    }
