"""Every way Django changes a relation keeps its mirrors exact, in the same transaction:
many-to-many managers from both sides, related saves and deletes, explicit through
models, relations to self, parent saves, rollbacks. Real SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction

from tests.denorm_app.models import Article, Person, Reader, Reading, Tag

from .conftest import ALIASES, assert_in_sync, statements

pytestmark = pytest.mark.django_db(databases=ALIASES, transaction=True)


def seed(alias: str) -> tuple[list[Article], list[Tag], list[Reader]]:
    db = Article.objects.using(alias)
    articles = [db.create(title=f"a{i}") for i in range(3)]
    tags = [Tag.objects.using(alias).create(name=f"Tag {i}", slug=f"tag-{i}") for i in range(4)]
    readers = [Reader.objects.using(alias).create(name=f"r{i}") for i in range(2)]
    return articles, tags, readers


def fresh(obj: Any) -> Any:
    return type(obj).objects.using(obj._state.db).get(pk=obj.pk)


def test_add_from_the_parent_fills_ids_and_fields(alias: str) -> None:
    (a, _, _), (t0, t1, t2, _), _ = seed(alias)
    a.tags.add(t2, t0)
    row = fresh(a)
    assert row.tag_ids == [t0.pk, t2.pk]
    assert row.tag_info == [
        {"id": t0.pk, "name": "Tag 0", "slug": "tag-0"},
        {"id": t2.pk, "name": "Tag 2", "slug": "tag-2"},
    ]
    assert fresh(t0).article_ids == [a.pk]
    assert a.tag_ids == [t0.pk, t2.pk], "the instance in hand gets the new value too"
    a.tags.remove(t0)
    assert fresh(a).tag_ids == [t2.pk] and fresh(t0).article_ids == []
    a.tags.add(t1)
    a.tags.set([t1, t0])
    assert fresh(a).tag_ids == sorted([t0.pk, t1.pk])
    a.tags.clear()
    assert fresh(a).tag_ids == [] and fresh(a).tag_info == [] and fresh(t1).article_ids == []
    assert_in_sync(alias)


def test_changes_from_the_related_side(alias: str) -> None:
    (a0, a1, a2), (t0, t1, *_), _ = seed(alias)
    t0.articles.add(a0, a1)
    assert fresh(a0).tag_ids == [t0.pk] and fresh(a1).tag_ids == [t0.pk]
    assert t0.article_ids == [a0.pk, a1.pk]
    t1.articles.set([a1, a2])
    assert fresh(a1).tag_ids == [t0.pk, t1.pk] and fresh(a2).tag_ids == [t1.pk]
    t0.articles.clear()  # a clear from the related side: the parents come from pre_clear
    assert fresh(a0).tag_ids == [] and fresh(a1).tag_ids == [t1.pk]
    t1.articles.remove(a2)
    assert fresh(a2).tag_ids == []
    assert_in_sync(alias)


def test_related_save_rewrites_the_copies_of_its_attributes(alias: str, queries: Any) -> None:
    (a0, a1, _), (t0, t1, *_), _ = seed(alias)
    a0.tags.add(t0, t1)
    a1.tags.add(t0)
    t0.name = "Renamed"
    t0.save()
    assert fresh(a0).tag_info[0] == {"id": t0.pk, "name": "Renamed", "slug": "tag-0"}
    assert fresh(a1).tag_info == [{"id": t0.pk, "name": "Renamed", "slug": "tag-0"}]
    assert_in_sync(alias)

    # Attributes that aren't mirrored: one read to tell, nothing recomputed.
    t0.hits = 5
    with queries(alias) as ran:
        t0.save()
    assert len(statements(ran)) == 2, statements(ran)  # the read of the old values, the UPDATE
    with queries(alias) as ran:
        t0.save(update_fields=["hits"])
    assert len(statements(ran)) == 1, statements(ran)  # update_fields: no mirrored column


def test_related_delete_cascades_into_the_copies(alias: str) -> None:
    (a0, a1, _), (t0, t1, t2, t3), _ = seed(alias)
    a0.tags.add(t0, t1, t2)
    a1.tags.add(t1, t3)
    t1.delete()  # Django deletes the through rows without m2m_changed
    assert fresh(a0).tag_ids == [t0.pk, t2.pk] and fresh(a1).tag_ids == [t3.pk]
    Tag.objects.using(alias).filter(pk__in=[t0.pk, t3.pk]).delete()
    assert fresh(a0).tag_ids == [t2.pk] and fresh(a1).tag_ids == []
    assert_in_sync(alias)


def test_parent_delete_updates_the_reverse_mirrors(alias: str) -> None:
    (a0, a1, _), (t0, *_), (r0, _) = seed(alias)
    a0.tags.add(t0)
    a1.tags.add(t0)
    Reading.objects.using(alias).create(article=a0, reader=r0)
    a0.delete()
    assert fresh(t0).article_ids == [a1.pk] and fresh(r0).article_ids == []
    assert_in_sync(alias)


def test_explicit_through_model(alias: str) -> None:
    (a0, a1, _), _, (r0, r1) = seed(alias)
    reading = Reading.objects.using(alias).create(article=a0, reader=r0)
    assert fresh(a0).reader_ids == [r0.pk]
    assert fresh(a0).reader_names == [{"id": r0.pk, "name": "r0"}]
    assert fresh(r0).article_ids == [a0.pk]
    reading.article = a1  # a link moved: the old and the new parent
    reading.save()
    assert fresh(a0).reader_ids == [] and fresh(a1).reader_ids == [r0.pk]
    Reading.objects.using(alias).create(article=a1, reader=r0)  # a duplicate link
    assert fresh(a1).reader_ids == [r0.pk]
    reading.delete()
    assert fresh(a1).reader_ids == [r0.pk], "the duplicate still links them"
    a0.readers.add(r0, r1, through_defaults={"minutes": 3})
    assert fresh(a0).reader_ids == [r0.pk, r1.pk]
    a0.readers.remove(r0)
    assert fresh(a0).reader_ids == [r1.pk] and fresh(r0).article_ids == [a1.pk]
    r1.articles.clear()
    assert fresh(a0).reader_ids == [] and fresh(r1).article_ids == []
    Reading.objects.using(alias).filter(reader=r0).delete()
    assert fresh(a1).reader_ids == []
    r1.name = "renamed"
    r1.save()
    Reading.objects.using(alias).create(article=a1, reader=r1)
    assert fresh(a1).reader_names == [{"id": r1.pk, "name": "renamed"}]
    r1.delete()
    assert fresh(a1).reader_ids == [] and fresh(a1).reader_names == []
    assert_in_sync(alias)


def test_relation_to_self(alias: str) -> None:
    ann, bob, cat = (Person.objects.using(alias).create(name=n) for n in ("ann", "bob", "cat"))
    ann.follows.add(bob, cat)
    bob.followers.add(cat)
    assert fresh(ann).following_ids == [bob.pk, cat.pk]
    assert fresh(bob).follower_ids == [ann.pk, cat.pk]
    ann.friends.add(bob)  # symmetrical: bob is ann's friend and ann is bob's
    assert fresh(ann).friend_ids == [bob.pk] and fresh(bob).friend_ids == [ann.pk]
    bob.friends.clear()
    assert fresh(ann).friend_ids == []
    bob.followers.clear()
    assert fresh(ann).following_ids == [cat.pk] and fresh(cat).following_ids == []
    cat.delete()
    assert fresh(ann).following_ids == []
    assert_in_sync(alias)


def test_parent_save_never_writes_a_stale_copy_back(alias: str) -> None:
    (a0, _, _), (t0, t1, *_), _ = seed(alias)
    stale = fresh(a0)  # loaded before the relation changes
    a0.tags.add(t0, t1)
    stale.title = "new title"
    stale.save()
    assert fresh(a0).tag_ids == [t0.pk, t1.pk]
    assert fresh(a0).title == "new title"
    assert stale.tag_ids == [t0.pk, t1.pk], "read back after the save"

    copy = fresh(a0)  # the copy idiom: a new row, with none of the relations
    copy.pk = None
    copy.save()
    assert fresh(copy).tag_ids == [] and copy.tag_ids == []
    assert_in_sync(alias)


def test_rollback_rolls_the_copy_back(alias: str) -> None:
    (a0, _, _), (t0, t1, *_), (r0, _) = seed(alias)
    a0.tags.add(t0)
    before = fresh(a0)

    def failing(change: Callable[[], Any]) -> None:
        with pytest.raises(RuntimeError), transaction.atomic(using=alias):
            change()
            raise RuntimeError("rolled back")

    def rename() -> None:
        tag = fresh(t0)
        tag.name = "renamed"
        tag.save()

    failing(lambda: a0.tags.add(t1))
    failing(lambda: fresh(t0).delete())
    failing(lambda: Reading.objects.using(alias).create(article=a0, reader=r0))
    failing(rename)
    after = fresh(a0)
    assert (after.tag_ids, after.tag_info, after.reader_ids) == (
        before.tag_ids,
        before.tag_info,
        before.reader_ids,
    )
    assert_in_sync(alias)


def test_the_hot_path_costs_one_recompute_and_one_update_per_mirror(
    alias: str, queries: Any
) -> None:
    (a0, _, _), (t0, t1, *_), _ = seed(alias)
    with queries(alias) as ran:
        a0.tags.add(t0, t1)
    # Django: the look-up of existing links and the INSERT. The through table has three
    # mirrors (Article.tag_ids, Article.tag_info, Tag.article_ids): a recompute and an
    # UPDATE each, plus on PostgreSQL one lock per parent model, before the INSERT.
    locks = 2 if alias == "postgres" else 0
    assert len(statements(ran)) == 2 + 3 * 2 + locks, statements(ran)
    with queries(alias) as ran:
        a0.tags.add(t0)  # already there: nothing added, nothing recomputed
    assert len(statements(ran)) == 1, statements(ran)
