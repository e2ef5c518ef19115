"""Mirrors under test, on SQLite and PostgreSQL, checked against a truth of their own.

``truth(alias)`` recomputes what every mirror of tests.denorm_app should hold straight
from the through tables, written out field by field and independently of
``Mirror.compute``; ``stored(alias)`` is what the columns hold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from tests.denorm_app.models import (
    Article,
    Person,
    PgArticle,
    PgTag,
    Reader,
    Reading,
    Tag,
)

ALIASES = ["default", "postgres"]
Values = dict[str, dict[Any, Any]]


@pytest.fixture(params=ALIASES)
def alias(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        request.getfixturevalue("postgres_alias")
    return str(request.param)


@pytest.fixture
def queries() -> Callable[[str], CaptureQueriesContext]:
    """``with queries(alias) as ran:`` then ``statements(ran)`` are the block's queries."""
    return lambda alias: CaptureQueriesContext(connections[alias])


def statements(ran: CaptureQueriesContext) -> list[str]:
    """The statements that read or wrote (not BEGIN, COMMIT, savepoints)."""
    control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")
    return [q["sql"] for q in ran.captured_queries if not q["sql"].startswith(control)]


def _links(rows: Any) -> dict[Any, set[Any]]:
    found: dict[Any, set[Any]] = defaultdict(set)
    for parent, related in rows:
        found[parent].add(related)
    return found


def truth(alias: str) -> Values:
    """What every mirror should hold, for every row, from the through tables."""
    tagging = list(Article.tags.through.objects.using(alias).values_list("article_id", "tag_id"))
    reading = list(Reading.objects.using(alias).values_list("article_id", "reader_id"))
    following = list(
        Person.follows.through.objects.using(alias).values_list("from_person_id", "to_person_id")
    )
    friendship = list(
        Person.friends.through.objects.using(alias).values_list("from_person_id", "to_person_id")
    )
    tags = {t.pk: t for t in Tag.objects.using(alias)}
    readers = {r.pk: r for r in Reader.objects.using(alias)}
    articles = list(Article.objects.using(alias).values_list("pk", flat=True))
    people = list(Person.objects.using(alias).values_list("pk", flat=True))

    tags_of, readers_of = _links(tagging), _links(reading)
    articles_of_tag = _links((t, a) for a, t in tagging)
    articles_of_reader = _links((r, a) for a, r in reading)
    follows, followers = _links(following), _links((b, a) for a, b in following)
    friends = _links(friendship)
    result: Values = {
        "Article.tag_ids": {a: sorted(tags_of[a]) for a in articles},
        "Article.tag_info": {
            a: [{"id": t, "name": tags[t].name, "slug": tags[t].slug} for t in sorted(tags_of[a])]
            for a in articles
        },
        "Article.reader_ids": {a: sorted(readers_of[a]) for a in articles},
        "Article.reader_names": {
            a: [{"id": r, "name": readers[r].name} for r in sorted(readers_of[a])] for a in articles
        },
        "Tag.article_ids": {t: sorted(articles_of_tag[t]) for t in tags},
        "Reader.article_ids": {r: sorted(articles_of_reader[r]) for r in readers},
        "Person.following_ids": {p: sorted(follows[p]) for p in people},
        "Person.follower_ids": {p: sorted(followers[p]) for p in people},
        "Person.friend_ids": {p: sorted(friends[p]) for p in people},
    }
    if connections[alias].vendor == "postgresql":
        pg_links = _links(
            PgArticle.tags.through.objects.using(alias).values_list("pgarticle_id", "pgtag_id")
        )
        pg_tags = dict(PgTag.objects.using(alias).values_list("pk", "name"))
        pg_articles = list(PgArticle.objects.using(alias).values_list("pk", flat=True))
        result["PgArticle.tag_pks"] = {a: sorted(pg_links[a]) for a in pg_articles}
        result["PgArticle.tag_ids"] = {a: sorted(pg_links[a]) for a in pg_articles}
        result["PgArticle.tag_info"] = {
            a: [{"id": t, "name": pg_tags[t]} for t in sorted(pg_links[a])] for a in pg_articles
        }
    return result


def stored(alias: str) -> Values:
    """What the mirror columns hold, keyed like ``truth``."""
    result: Values = {}
    for label in truth_labels(alias):
        model_name, field = label.split(".")
        model = {m.__name__: m for m in (Article, Tag, Reader, Person, PgArticle)}[model_name]
        result[label] = dict(model.objects.using(alias).values_list("pk", field))
    return result


def truth_labels(alias: str) -> list[str]:
    labels = [
        "Article.tag_ids",
        "Article.tag_info",
        "Article.reader_ids",
        "Article.reader_names",
        "Tag.article_ids",
        "Reader.article_ids",
        "Person.following_ids",
        "Person.follower_ids",
        "Person.friend_ids",
    ]
    if connections[alias].vendor == "postgresql":
        labels += ["PgArticle.tag_pks", "PgArticle.tag_ids", "PgArticle.tag_info"]
    return labels


def assert_in_sync(alias: str) -> None:
    expected, actual = truth(alias), stored(alias)
    wrong = {
        label: {
            pk: (actual[label][pk], value)
            for pk, value in expected[label].items()
            if actual[label][pk] != value
        }
        for label in expected
    }
    wrong = {label: rows for label, rows in wrong.items() if rows}
    assert not wrong, f"mirrors differ from the relation (stored, truth): {wrong}"
