"""What is cached and when: opt-in and modes, reads that must never be cached, a write
committing while a read is in flight, an unreachable cache, and stampede protection."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connections
from django.db.models.functions import Now

from django_pareto.querycache import cached, invalidate, metrics, runtime
from django_pareto.querycache.results import Entry, _lock_key, result_key
from tests.qc_app.models import Post, Reader, Reading, Tag

from .conftest import ALIASES

pytestmark = pytest.mark.django_db(databases=ALIASES, transaction=True)


def served(alias: str, read: Any, queries: Any) -> bool:
    """Read twice: was the second one served without touching the database?"""
    first = read()
    with queries(alias) as ran:
        second = read()
    assert first == second
    return len(ran) == 0


def test_opt_in_per_queryset_and_per_model(querycache: Any, queries: Any) -> None:
    Tag.objects.create(name="a")
    Reader.objects.create(name="r")
    assert served("default", lambda: list(Tag.objects.cache().values_list("name")), queries)
    assert not served("default", lambda: list(Tag.objects.values_list("name")), queries)
    assert served("default", lambda: Reader.objects.filter(name="r").count(), queries) is False
    assert served("default", lambda: cached(Reader.objects.filter(name="r")).count(), queries)
    querycache(MODELS=["qc_app.Reader"])
    assert served("default", lambda: Reader.objects.filter(name="r").exists(), queries)
    querycache(MODE="all", EXCLUDE_MODELS=["qc_app.Tag"])
    assert served("default", lambda: list(Post.objects.all()), queries)
    assert not served("default", lambda: list(Tag.objects.all()), queries)
    assert not served("default", lambda: list(Post.objects.nocache()), queries)
    querycache(MODE="all", DATABASES=["postgres"])
    assert not served("default", lambda: list(Post.objects.all()), queries)


def test_reads_that_are_never_cached(alias: str, querycache: Any, queries: Any) -> None:
    querycache(MODE="all")
    Post.objects.using(alias).create(title="a")
    posts = Post.objects.using(alias)
    assert not served(alias, lambda: [p.pk for p in posts.order_by("?")], queries)
    assert not served(alias, lambda: list(posts.filter(id__gt=0).annotate(t=Now())), queries)
    assert not served(alias, lambda: [p.pk for p in posts.iterator()], queries)
    assert served(alias, lambda: [p.pk for p in posts.all()], queries)
    assert metrics.snapshot()["bypassed"] >= 2


def test_a_write_committing_while_a_read_runs_leaves_no_stale_entry(
    postgres_alias: str, querycache: Any, queries: Any
) -> None:
    """The read's SELECT runs, then another connection commits a write before the read's
    result is stored: the result is returned (it was right when read) but not stored.
    (PostgreSQL: the test's in-memory SQLite database can't take a second writer.)"""
    alias = postgres_alias
    Post.objects.using(alias).create(title="a", votes=1)
    other = connections.create_connection(alias)
    connection = connections[alias]

    def write_after_select(execute: Any, sql: str, params: Any, many: bool, ctx: Any) -> Any:
        result = execute(sql, params, many, ctx)
        if sql.startswith("SELECT") and "qc_app_post" in sql:
            with other.cursor() as cursor:  # its own connection: commits, then invalidates
                cursor.execute("UPDATE qc_app_post SET votes = 2")
        return result

    try:
        with connection.execute_wrapper(write_after_select):
            during = list(Post.objects.using(alias).cache().values_list("votes", flat=True))
        assert metrics.snapshot()["refused"] == 1
        assert metrics.snapshot()["stores"] == 0
        assert during == [1]  # its rows were fetched before the write committed
        with queries(alias) as ran:
            after = list(Post.objects.using(alias).cache().values_list("votes", flat=True))
        assert after == [2]
        assert len(ran) == 1
    finally:
        other.close()


def test_an_unreachable_cache_falls_back_to_the_database(
    settings: Any, querycache: Any, queries: Any
) -> None:
    settings.CACHES = {
        **settings.CACHES,
        "down": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "OPTIONS": {"socket_connect_timeout": 0.2},
        },
    }
    querycache(CACHE="down")
    post = Post.objects.create(title="a")  # the write's invalidation fails: counted
    post.title = "b"
    post.save()
    assert [p.title for p in Post.objects.cache()] == ["b"]
    assert [p.title for p in Post.objects.cache()] == ["b"]
    snapshot = metrics.snapshot()
    assert snapshot["faults"] >= 2
    assert snapshot["hits"] == 0


def test_one_process_recomputes_a_costly_result_while_others_wait(
    alias: str, querycache: Any, queries: Any
) -> None:
    querycache(LOCK_MIN_MS=1)
    Post.objects.using(alias).create(title="a")
    qs = Post.objects.using(alias).cache().values_list("title", flat=True)
    assert list(qs.all()) == ["a"]
    invalidate("qc_app_post")
    rt = runtime.get()
    assert rt is not None
    sql, params = qs.query.get_compiler(alias).as_sql()
    # The whole queryset is cached as the list Django built (objects.py).
    shape = ("objects", qs._iterable_class.__name__, qs._fields)
    key = result_key(rt.settings.KEY_PREFIX, alias, sql, params, shape)
    stale: Entry = rt.cache.get(key)
    rt.cache.set(key, stale._replace(compute_ms=400.0))  # as if it took 400 ms
    assert rt.cache.add(_lock_key(key), 1, 10)  # "another process" is recomputing it

    def other_process_finishes() -> None:
        time.sleep(0.2)
        gens = rt.generations.read(("qc_app_post",))[0]
        rt.cache.set(key, Entry(gens, ["from the other process"], time.time() + 60, 400.0))

    thread = threading.Thread(target=other_process_finishes)
    thread.start()
    with queries(alias) as ran:
        assert list(qs.all()) == ["from the other process"]
    thread.join()
    assert len(ran) == 0


def test_early_refresh_recomputes_before_expiry(alias: str, querycache: Any, queries: Any) -> None:
    querycache(EARLY_REFRESH=1e9)  # always due: one refresh per read, unless locked
    Post.objects.using(alias).create(title="a")
    qs = Post.objects.using(alias).cache().values_list("title", flat=True)
    list(qs.all())
    with queries(alias) as ran:
        assert list(qs.all()) == ["a"]
    assert len(ran) == 1
    assert metrics.snapshot()["stores"] == 2


def test_large_results_are_not_stored(querycache: Any, queries: Any) -> None:
    querycache(MAX_ROWS=2)
    Post.objects.bulk_create(Post(title=str(i)) for i in range(3))
    assert not served("default", lambda: list(Post.objects.cache()), queries)
    assert served("default", lambda: list(Post.objects.cache()[:2]), queries)


def test_configuration_checks(settings: Any) -> None:
    from django.core.checks import run_checks

    def ids() -> set[str]:
        return {m.id for m in run_checks(tags=["caches"]) if m.id and m.id.startswith("pareto.")}

    settings.PARETO_QUERYCACHE = {"CACHE": "nowhere"}
    assert ids() == {"pareto.E004"}
    settings.PARETO_QUERYCACHE = {"MODE": "everything"}
    assert ids() == {"pareto.E004"}
    settings.PARETO_QUERYCACHE = {}
    assert ids() == {"pareto.W003"}  # the test settings' default cache is locmem
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "x"}
    }
    assert ids() == set()


def test_whole_querysets_are_served_as_the_objects_django_built(
    alias: str, querycache: Any, queries: Any
) -> None:
    post = Post.objects.using(alias).create(title="a", votes=2)
    reader = Reader.objects.using(alias).create(name="r")
    Reading.objects.using(alias).create(post=post, reader=reader, minutes=3)

    def readings() -> list[Reading]:
        qs = Reading.objects.using(alias).select_related("post", "reader").order_by("id")
        return list(cached(qs))

    readings()
    with queries(alias) as ran:
        (served,) = readings()
        assert (served.post.title, served.reader.name, served.minutes) == ("a", "r", 3)
        assert served._state.db == alias and not served._state.adding
    assert len(ran) == 0  # neither the list nor its select_related rows
    # A related manager's rows share their parent instance: that survives the cache.
    list(cached(post.reading_set.all()))
    with queries(alias) as ran:
        (row,) = cached(post.reading_set.all())
    assert len(ran) == 0
    assert row.post is post


def test_models_with_post_init_receivers_are_cached_as_rows_only(
    querycache: Any, queries: Any
) -> None:
    from django.db.models.signals import post_init

    seen: list[int] = []

    def count_init(sender: Any, instance: Reader, **kwargs: Any) -> None:
        seen.append(1)

    post_init.connect(count_init, sender=Reader)
    try:
        Reader.objects.create(name="r")
        list(cached(Reader.objects.all()))
        before = len(seen)
        with queries("default") as ran:
            list(cached(Reader.objects.all()))
        assert len(ran) == 0  # served from the row cache
        assert len(seen) == before + 1  # and the instance was built, receivers ran
    finally:
        post_init.disconnect(count_init, sender=Reader)


def test_a_cache_alias_that_does_not_exist_leaves_reads_uncached(
    querycache: Any, queries: Any
) -> None:
    querycache(CACHE="nowhere")
    Post.objects.create(title="a")
    for _ in range(3):
        assert [p.title for p in Post.objects.cache()] == ["a"]
    assert metrics.snapshot()["faults"] == 1  # noticed once, not on every read
    assert metrics.snapshot()["hits"] == 0
