"""Random sequences of every kind of change, some rolled back: after each step every
mirror equals the truth recomputed from the through tables. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections, transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.denorm_app.models import Article, Person, PgArticle, PgTag, Reader, Reading, Tag

from .conftest import ALIASES, assert_in_sync

pytestmark = pytest.mark.django_db(databases=ALIASES, transaction=True)

Change = Callable[[], Any]
# Children first: cleaning up between examples must not depend on cascades.
TABLES = [
    Reading,
    Article.tags.through,
    Person.follows.through,
    Person.friends.through,
    Article,
    Tag,
    Reader,
    Person,
]
PG_TABLES = [PgArticle.tags.through, PgArticle, PgTag]


class Rollback(Exception):
    pass


class MirrorMachine(RuleBasedStateMachine):
    alias = "default"

    def __init__(self) -> None:
        super().__init__()
        self.postgres = connections[self.alias].vendor == "postgresql"
        self.counter = 0

    # -- the objects -----------------------------------------------------------------------

    def db(self, model: Any) -> Any:
        return model.objects.using(self.alias)

    def live(self, model: Any) -> list[Any]:
        return list(self.db(model).order_by("pk"))

    def pick(self, data: st.DataObject, model: Any) -> Any:
        return data.draw(st.sampled_from(self.live(model)))

    def some(self, data: st.DataObject, model: Any) -> list[Any]:
        return data.draw(
            st.lists(st.sampled_from(self.live(model)), max_size=3, unique_by=lambda o: o.pk)
        )

    def name(self) -> str:
        self.counter += 1
        return f"n{self.counter}"

    # -- the changes -----------------------------------------------------------------------

    def changes(self, data: st.DataObject) -> list[tuple[str, Change]]:
        """The changes possible with the objects that exist, as (name, thunk)."""
        have = {m: self.db(m).exists() for m in (Article, Tag, Reader, Person, Reading)}
        found: list[tuple[str, Change]] = [
            ("new article", lambda: self.db(Article).create(title=self.name())),
            ("new tag", lambda: self.db(Tag).create(name=self.name(), slug=self.name())),
            ("new reader", lambda: self.db(Reader).create(name=self.name())),
            ("new person", lambda: self.db(Person).create(name=self.name())),
        ]
        if have[Article] and have[Tag]:
            found += [
                (
                    "tags from the article",
                    lambda: self.m2m(data, self.pick(data, Article).tags, Tag),
                ),
                (
                    "articles from the tag",
                    lambda: self.m2m(data, self.pick(data, Tag).articles, Article),
                ),
            ]
        if have[Article] and have[Reader]:
            found += [
                (
                    "readers from the article",
                    lambda: self.m2m(data, self.pick(data, Article).readers, Reader),
                ),
                (
                    "articles from the reader",
                    lambda: self.m2m(data, self.pick(data, Reader).articles, Article),
                ),
                (
                    "new reading",
                    lambda: self.db(Reading).create(
                        article=self.pick(data, Article), reader=self.pick(data, Reader)
                    ),
                ),
            ]
        if have[Reading]:
            found += [
                ("reading moved", lambda: self.move_reading(data)),
                ("reading minutes", lambda: self.reading_minutes(data)),
                ("reading deleted", lambda: self.pick(data, Reading).delete()),
                (
                    "readings of a reader deleted",
                    lambda: (
                        self.db(Reading).filter(reader=self.pick(data, Reading).reader_id).delete()
                    ),
                ),
            ]
        if have[Tag]:
            found += [
                (
                    "tag renamed",
                    lambda: self.rename(self.pick(data, Tag), slug=data.draw(st.booleans())),
                ),
                (
                    "tag hits (not mirrored)",
                    lambda: self.hit(self.pick(data, Tag), data.draw(st.booleans())),
                ),
                ("tag deleted", lambda: self.pick(data, Tag).delete()),
                (
                    "tags deleted by a queryset",
                    lambda: (
                        self.db(Tag).filter(pk__in=[t.pk for t in self.some(data, Tag)]).delete()
                    ),
                ),
            ]
        if have[Reader]:
            found += [
                ("reader renamed", lambda: self.rename(self.pick(data, Reader))),
                ("reader deleted", lambda: self.pick(data, Reader).delete()),
            ]
        if have[Article]:
            found.append(("article deleted", lambda: self.pick(data, Article).delete()))
        if have[Person]:
            found += [
                ("follows", lambda: self.m2m(data, self.pick(data, Person).follows, Person)),
                ("followers", lambda: self.m2m(data, self.pick(data, Person).followers, Person)),
                ("friends", lambda: self.m2m(data, self.pick(data, Person).friends, Person)),
                ("person deleted", lambda: self.pick(data, Person).delete()),
            ]
        if self.postgres:
            found += self.pg_changes(data)
        return found

    def pg_changes(self, data: st.DataObject) -> list[tuple[str, Change]]:
        found: list[tuple[str, Change]] = [
            ("new pg article", lambda: self.db(PgArticle).create(title=self.name())),
            ("new pg tag", lambda: self.db(PgTag).create(name=self.name())),
        ]
        if self.db(PgArticle).exists() and self.db(PgTag).exists():
            found += [
                ("pg tags", lambda: self.m2m(data, self.pick(data, PgArticle).tags, PgTag)),
                ("pg articles", lambda: self.m2m(data, self.pick(data, PgTag).articles, PgArticle)),
                ("pg tag renamed", lambda: self.rename(self.pick(data, PgTag))),
                ("pg tag deleted", lambda: self.pick(data, PgTag).delete()),
            ]
        return found

    def m2m(self, data: st.DataObject, manager: Any, model: Any) -> None:
        op = data.draw(st.sampled_from(["add", "remove", "set", "clear"]))
        if op == "clear":
            manager.clear()
            return
        objs = self.some(data, model)
        if op == "set":
            manager.set(objs)
        else:
            getattr(manager, op)(*objs)

    def rename(self, obj: Any, slug: bool = False) -> None:
        obj.name = self.name()
        if slug:
            obj.slug = self.name()
        obj.save()

    def hit(self, tag: Tag, narrow: bool) -> None:
        tag.hits += 1
        tag.save(update_fields=["hits"] if narrow else None)

    def move_reading(self, data: st.DataObject) -> None:
        reading = self.pick(data, Reading)
        if data.draw(st.booleans()):
            reading.article = self.pick(data, Article)
        else:
            reading.reader = self.pick(data, Reader)
        reading.save()

    def reading_minutes(self, data: st.DataObject) -> None:
        reading = self.pick(data, Reading)
        reading.minutes += 1
        reading.save()

    # -- the rules -------------------------------------------------------------------------

    @rule(data=st.data())
    def change(self, data: st.DataObject) -> None:
        _name, run = data.draw(st.sampled_from(self.changes(data)), label="change")
        run()

    @rule(data=st.data())
    def rolled_back(self, data: st.DataObject) -> None:
        _name, run = data.draw(st.sampled_from(self.changes(data)), label="rolled back")
        with pytest.raises(Rollback), transaction.atomic(using=self.alias):
            run()
            raise Rollback

    @rule(data=st.data())
    def two_changes_in_one_transaction(self, data: st.DataObject) -> None:
        with transaction.atomic(using=self.alias):
            data.draw(st.sampled_from(self.changes(data)), label="first")[1]()
            data.draw(st.sampled_from(self.changes(data)), label="then")[1]()

    @invariant()
    def mirrors_equal_the_relation(self) -> None:
        assert_in_sync(self.alias)

    def teardown(self) -> None:
        tables = TABLES + (PG_TABLES if self.postgres else [])
        with connections[self.alias].cursor() as cursor:
            for model in tables:
                cursor.execute(f"DELETE FROM {model._meta.db_table}")


def test_mirrors_never_drift(alias: str) -> None:
    machine = type(f"MirrorMachine_{alias}", (MirrorMachine,), {"alias": alias})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=30,
            stateful_step_count=20,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
