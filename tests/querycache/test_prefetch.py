"""A queryset with prefetches is cached as one graph, invalidated by any table it read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db.models import Prefetch
from django.db.models.signals import post_init

from django_pareto.querycache import disabled, metrics, prefetches
from tests.qc_app.models import Post, Reader, Reading, Tag

from .conftest import ALIASES

pytestmark = pytest.mark.django_db(databases=ALIASES, transaction=True)


@pytest.fixture
def seeded(alias: str, querycache: Any) -> str:
    querycache(MODE="all")
    with disabled():
        tags = Tag.objects.using(alias).bulk_create(Tag(name=n) for n in ("a", "b", "c"))
        posts = Post.objects.using(alias).bulk_create(Post(title=f"p{i}") for i in range(3))
        posts[0].tags.add(tags[0], tags[1])
        posts[1].tags.add(tags[2])
        reader = Reader.objects.using(alias).create(name="r")
        Reading.objects.using(alias).create(post=posts[0], reader=reader, minutes=3)
    return alias


def graph(alias: str) -> list[tuple[str, list[str], list[str]]]:
    """Posts with their tags and readers, read from the prefetched relations only."""
    qs = Post.objects.using(alias).prefetch_related("tags", "readers").order_by("id")
    return [
        (p.title, sorted(t.name for t in p.tags.all()), sorted(r.name for r in p.readers.all()))
        for p in qs
    ]


def truth(alias: str) -> list[tuple[str, list[str], list[str]]]:
    with disabled():
        return graph(alias)


def test_a_hit_serves_the_whole_graph_without_a_query(seeded: str, queries: Any) -> None:
    first = graph(seeded)
    assert first == truth(seeded)
    assert first[0] == ("p0", ["a", "b"], ["r"])
    metrics.reset()
    with queries(seeded) as ran:
        assert graph(seeded) == first
    assert len(ran) == 0, [q["sql"] for q in ran]
    # One lookup for the posts, their tags and their readers, not one per query.
    assert (metrics.snapshot()["hits"], metrics.snapshot()["misses"]) == (1, 0)


WRITES: dict[str, Callable[[str], Any]] = {
    "m2m add (through table)": lambda a: (
        Post.objects.using(a).get(title="p2").tags.add(Tag.objects.using(a).get(name="a"))
    ),
    "related object renamed": lambda a: Tag.objects.using(a).filter(name="b").update(name="z"),
    "explicit through model saved": lambda a: Reading.objects.using(a).create(
        post=Post.objects.using(a).get(title="p1"), reader=Reader.objects.using(a).get()
    ),
    "second-level object renamed": lambda a: Reader.objects.using(a).update(name="s"),
    "main table written": lambda a: Post.objects.using(a).filter(title="p2").update(title="q"),
}


@pytest.mark.parametrize("name", list(WRITES))
def test_a_write_to_any_table_of_the_graph_invalidates_it(
    name: str, seeded: str, queries: Any
) -> None:
    before = graph(seeded)
    graph(seeded)
    WRITES[name](seeded)
    with queries(seeded) as ran:
        after = graph(seeded)
    assert after == truth(seeded)
    assert after != before
    assert len(ran) >= 1


def test_prefetch_querysets_are_told_apart(seeded: str, queries: Any) -> None:
    def only(prefix: str) -> list[list[str]]:
        inner = Tag.objects.filter(name__startswith=prefix)
        qs = Post.objects.using(seeded).prefetch_related(Prefetch("tags", queryset=inner))
        return [sorted(t.name for t in p.tags.all()) for p in qs.order_by("id")]

    assert only("a") == [["a"], [], []]
    assert only("c") == [[], ["c"], []]
    with queries(seeded) as ran:
        assert only("a") == [["a"], [], []]
    assert len(ran) == 0


def test_a_to_attr_prefetch_is_cached_too(seeded: str, queries: Any) -> None:
    def read() -> list[list[str]]:
        qs = Post.objects.using(seeded).prefetch_related(Prefetch("tags", to_attr="tag_list"))
        return [sorted(t.name for t in p.tag_list) for p in qs.order_by("id")]

    assert read() == [["a", "b"], ["c"], []]
    with queries(seeded) as ran:
        assert read() == [["a", "b"], ["c"], []]
    assert len(ran) == 0


@pytest.fixture
def tag_inits() -> Iterator[list[Tag]]:
    built: list[Tag] = []

    def receiver(instance: Tag, **kwargs: Any) -> None:
        built.append(instance)

    post_init.connect(receiver, sender=Tag)
    yield built
    post_init.disconnect(receiver, sender=Tag)


def test_related_models_with_post_init_receivers_are_built_each_time(
    seeded: str, tag_inits: list[Tag]
) -> None:
    graph(seeded)
    del tag_inits[:]
    assert graph(seeded) == truth(seeded)
    # An unpickled instance wouldn't run its receivers: the tags must be built again.
    assert sorted(t.name for t in tag_inits) == ["a", "a", "b", "b", "c", "c"]


def test_a_graph_that_read_an_unpredicted_table_is_not_stored(
    seeded: str, queries: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = prefetches.predict

    def forgetful(qs: Any, rt: Any) -> prefetches.Graph | None:
        found = real(qs, rt)
        assert found is not None
        return prefetches.Graph(found.tables - {"qc_app_post_tags"}, found.key)

    monkeypatch.setattr(prefetches, "predict", forgetful)
    metrics.reset()
    assert graph(seeded) == truth(seeded)
    assert metrics.snapshot()["tables"]["qc_app_post_tags"]["bypassed"] >= 1
    Post.objects.using(seeded).get(title="p2").tags.add(Tag.objects.using(seeded).get(name="a"))
    # Had the graph been stored, nothing would have invalidated it: it must be fresh.
    assert graph(seeded) == truth(seeded)
    assert graph(seeded)[2] == ("p2", ["a"], [])


def test_an_excluded_related_model_is_never_served_from_a_graph(
    seeded: str, querycache: Any, queries: Any
) -> None:
    querycache(MODE="all", EXCLUDE_MODELS=["qc_app.Tag"])
    graph(seeded)
    with queries(seeded) as ran:
        assert graph(seeded) == truth(seeded)
    assert [q["sql"] for q in ran if "qc_app_tag" in q["sql"]], "the tags were not read"
