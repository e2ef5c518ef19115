"""Every write path invalidates what read its tables; a rollback does not; a transaction
sees its own writes. Real SQLite and PostgreSQL, locmem and Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections, transaction

from django_pareto.querycache import disabled, metrics
from tests.qc_app.models import Post, Reader, Reading, Tag

from .conftest import ALIASES

pytestmark = pytest.mark.django_db(databases=ALIASES, transaction=True)


def seed(alias: str) -> None:
    tags = Tag.objects.using(alias).bulk_create(Tag(name=n) for n in ("a", "b", "c"))
    posts = Post.objects.using(alias).bulk_create(Post(title=f"p{i}") for i in range(3))
    posts[0].tags.add(tags[0], tags[1])
    reader = Reader.objects.using(alias).create(name="r")
    Reading.objects.using(alias).create(post=posts[0], reader=reader)


def posts(alias: str) -> list[tuple[str, int]]:
    return list(Post.objects.using(alias).cache().order_by("id").values_list("title", "votes"))


def tagged(alias: str) -> list[str]:
    """A read through the many-to-many table."""
    qs = Tag.objects.using(alias).cache().filter(posts__title="p0").order_by("name")
    return list(qs.values_list("name", flat=True))


def read_by(alias: str) -> int:
    """A read through an explicit through model."""
    return Reader.objects.using(alias).filter(posts__title="p0").count()


def raw(alias: str, sql: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql)


def first(alias: str) -> Post:
    with disabled():
        return Post.objects.using(alias).order_by("id")[0]


def a_tag(alias: str, name: str = "c") -> Tag:
    with disabled():
        return Tag.objects.using(alias).get(name=name)


WRITES: dict[str, tuple[Callable[[str], Any], Callable[[str], None]]] = {
    "save (update)": (posts, lambda a: Post.objects.using(a).get(title="p1").save()),
    "save (insert)": (posts, lambda a: Post.objects.using(a).create(title="p9")),
    "delete (instance)": (posts, lambda a: first(a).delete()),
    "bulk_create": (posts, lambda a: Post.objects.using(a).bulk_create([Post(title="x")])),
    "bulk_update": (
        posts,
        lambda a: Post.objects.using(a).bulk_update(
            [Post(pk=first(a).pk, title="bu", votes=5)], ["title", "votes"]
        ),
    ),
    "QuerySet.update": (posts, lambda a: Post.objects.using(a).update(votes=7)),
    "QuerySet.delete": (posts, lambda a: Post.objects.using(a).filter(title="p2").delete()),
    "m2m add": (tagged, lambda a: first(a).tags.add(a_tag(a))),
    "m2m add (reverse)": (tagged, lambda a: a_tag(a).posts.add(first(a))),
    "m2m remove": (tagged, lambda a: first(a).tags.remove(a_tag(a, "a"))),
    "m2m clear": (tagged, lambda a: first(a).tags.clear()),
    "m2m set": (tagged, lambda a: first(a).tags.set([a_tag(a)])),
    "m2m clear (reverse)": (tagged, lambda a: a_tag(a, "b").posts.clear()),
    "related save": (tagged, lambda a: Tag.objects.using(a).filter(name="a").update(name="z")),
    "through model save": (
        read_by,
        lambda a: Reading.objects.using(a).create(
            post=first(a), reader=Reader.objects.using(a).create(name="s")
        ),
    ),
    "raw UPDATE": (posts, lambda a: raw(a, "UPDATE qc_app_post SET votes = votes + 1")),
    "raw INSERT": (
        posts,
        lambda a: raw(a, "INSERT INTO qc_app_post (title, votes) VALUES ('r', 0)"),
    ),
    "raw DELETE": (posts, lambda a: raw(a, "DELETE FROM qc_app_post WHERE title = 'p1'")),
    "raw DDL": (posts, lambda a: raw(a, "CREATE TABLE qc_scratch (id integer)")),
}


@pytest.fixture
def cached_read(alias: str, querycache: Any) -> Callable[..., Any]:
    querycache(MODELS=["qc_app.Reader"])  # read_by's model is cached by setting, not .cache()
    seed(alias)
    return lambda read: read(alias)


@pytest.mark.parametrize("name", list(WRITES))
def test_every_write_path_invalidates(
    name: str, alias: str, cached_read: Callable[..., Any], queries: Any
) -> None:
    read, write = WRITES[name]
    before = cached_read(read)
    with queries(alias) as ran:
        assert cached_read(read) == before
    assert len(ran) == 0, "the second read should be served by the cache"
    try:
        write(alias)
        with queries(alias) as ran:
            after = cached_read(read)
        with disabled():
            truth = read(alias)
        assert after == truth, f"{name}: the cache served a result older than the write"
        assert len(ran) >= 1, f"{name}: the read after the write was not recomputed"
        assert after != before or name in ("save (update)", "raw DDL")
    finally:
        if name == "raw DDL":
            raw(alias, "DROP TABLE qc_scratch")


def test_a_rollback_keeps_the_cache(alias: str, cached_read: Any, queries: Any) -> None:
    before = cached_read(posts)
    invalidations = metrics.snapshot()["invalidations"]
    with pytest.raises(ZeroDivisionError), transaction.atomic(using=alias):
        Post.objects.using(alias).update(votes=99)
        raise ZeroDivisionError
    with queries(alias) as ran:
        assert cached_read(posts) == before
    assert len(ran) == 0
    assert metrics.snapshot()["invalidations"] == invalidations


def test_a_transaction_sees_its_own_writes(alias: str, cached_read: Any, queries: Any) -> None:
    before = cached_read(posts)
    invalidations = metrics.snapshot()["invalidations"]
    with transaction.atomic(using=alias):
        with queries(alias) as ran:
            assert cached_read(posts) == before  # nothing written yet: served
        assert len(ran) == 0
        Post.objects.using(alias).update(votes=3)
        inside = cached_read(posts)  # its own write: straight from the database
        assert {votes for _, votes in inside} == {3}
        assert metrics.snapshot()["invalidations"] == invalidations  # not before the commit
    assert metrics.snapshot()["invalidations"] > invalidations
    with queries(alias) as ran:
        assert cached_read(posts) == inside
    assert len(ran) == 1


def test_a_rolled_back_savepoint_still_invalidates_the_outer_write(
    alias: str, cached_read: Any
) -> None:
    cached_read(posts)
    with transaction.atomic(using=alias):
        Post.objects.using(alias).filter(title="p0").update(votes=1)
        try:
            with transaction.atomic(using=alias):
                Post.objects.using(alias).filter(title="p1").update(votes=1)
                raise ZeroDivisionError
        except ZeroDivisionError:
            pass
    assert cached_read(posts) == [("p0", 1), ("p1", 0), ("p2", 0)]


def test_databases_do_not_share_results(querycache: Any, postgres_alias: str, queries: Any) -> None:
    seed("default")
    seed(postgres_alias)
    Post.objects.using(postgres_alias).update(votes=2)
    assert posts("default") != posts(postgres_alias)
    with queries("default") as ran:
        assert {v for _, v in posts("default")} == {0}
    assert len(ran) == 0


def test_every_transaction_invalidates_not_only_the_first(
    alias: str, cached_read: Any, queries: Any
) -> None:
    """A process that writes only inside atomic blocks (or through bulk_update, which opens
    one) owes an invalidation per committed transaction."""
    for votes in (1, 2, 3):
        with transaction.atomic(using=alias):
            Post.objects.using(alias).filter(title="p0").update(votes=votes)
        assert cached_read(posts)[0] == ("p0", votes)
        p1 = Post.objects.using(alias).get(title="p1")
        p1.votes = votes
        Post.objects.using(alias).bulk_update([p1], ["votes"])
        assert cached_read(posts)[1] == ("p1", votes)


def test_reads_inside_a_transaction_are_stored_where_they_see_every_commit(
    alias: str, cached_read: Any, queries: Any
) -> None:
    with transaction.atomic(using=alias):
        cached_read(posts)
    with queries(alias) as ran:
        cached_read(posts)
    # PostgreSQL at READ COMMITTED stores it; SQLite's transaction snapshot may be older.
    assert len(ran) == (0 if alias == "postgres" else 1)
