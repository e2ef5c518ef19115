"""Filtering by the copy (``has``) returns the rows filtering through the relation does,
on SQLite and PostgreSQL; on PostgreSQL it compiles to ``@>``, which a GIN index serves."""

from __future__ import annotations

import random

import pytest
from django.db import connections
from django.db.models import Count, Exists, OuterRef

from tests.denorm_app.models import Article, Person, PgArticle, PgTag, Tag

from .conftest import ALIASES

pytestmark = pytest.mark.django_db(databases=ALIASES, transaction=True)


def seed(alias: str, articles: int = 30, tags: int = 8) -> tuple[list[Article], list[Tag]]:
    rng = random.Random(7)
    made = [Article.objects.using(alias).create(title=f"a{i}") for i in range(articles)]
    kinds = [Tag.objects.using(alias).create(name=f"t{i}", slug=f"t-{i}") for i in range(tags)]
    for article in made:
        article.tags.set(rng.sample(kinds, rng.randint(0, 4)))
    return made, kinds


def pks(qs: object) -> list[int]:
    return sorted(qs.values_list("pk", flat=True))  # type: ignore[attr-defined]


def test_has_matches_filtering_through_the_relation(alias: str) -> None:
    _, tags = seed(alias)
    articles = Article.objects.using(alias)
    for tag in tags:
        through = pks(articles.filter(tags=tag))
        assert pks(articles.filter(tag_ids__has=tag.pk)) == through
        assert pks(articles.filter(tag_info__has=tag.pk)) == through
        assert pks(articles.filter(tag_ids__has=tag)) == through, "a related object"
        assert pks(articles.filter(tag_ids__has=str(tag.pk))) == through, "a pk from a URL"
        assert pks(articles.exclude(tag_ids__has=tag.pk)) == pks(articles.exclude(tags=tag))
    for article in Article.objects.using(alias):  # the reverse mirror, from the other side
        by_copy = Tag.objects.using(alias).filter(article_ids__has=article.pk)
        assert pks(by_copy) == pks(Tag.objects.using(alias).filter(articles=article))
    assert pks(articles.filter(tag_ids__has=10**9)) == []


def test_has_takes_an_expression(alias: str) -> None:
    seed(alias)
    tags = Tag.objects.using(alias)
    used = dict(tags.annotate(n=Count("articles")).values_list("pk", "n"))
    for mirror in ("tag_ids", "tag_info"):
        tagged = Article.objects.using(alias).filter(**{f"{mirror}__has": OuterRef("pk")})
        by_copy = dict(tags.annotate(tagged=Exists(tagged)).values_list("pk", "tagged"))
        assert by_copy == {pk: n > 0 for pk, n in used.items()}


def test_self_relation_filters(alias: str) -> None:
    ann, bob, cat = (Person.objects.using(alias).create(name=n) for n in ("ann", "bob", "cat"))
    ann.follows.add(bob)
    cat.follows.add(bob, ann)
    people = Person.objects.using(alias)
    assert pks(people.filter(following_ids__has=bob.pk)) == pks(people.filter(follows=bob))
    assert pks(people.filter(follower_ids__has=cat.pk)) == pks(people.filter(followers=cat))


@pytest.fixture
def pg_data(postgres_alias: str) -> tuple[list[PgArticle], list[PgTag]]:
    rng = random.Random(3)
    articles = [PgArticle.objects.using("postgres").create(title=f"a{i}") for i in range(40)]
    tags = [PgTag.objects.using("postgres").create(name=f"t{i}") for i in range(10)]
    for article in articles:
        article.tags.set(rng.sample(tags, rng.randint(0, 5)))
    return articles, tags


@pytest.mark.parametrize("field", ["tag_pks", "tag_ids", "tag_info"])
def test_postgres_containment_matches_the_relation(
    field: str, pg_data: tuple[list[PgArticle], list[PgTag]]
) -> None:
    _, tags = pg_data
    rows = PgArticle.objects.using("postgres")
    for tag in tags:
        assert pks(rows.filter(**{f"{field}__has": tag.pk})) == pks(rows.filter(tags=tag))
    by_copy = dict(
        PgTag.objects.using("postgres")
        .annotate(tagged=Exists(rows.filter(**{f"{field}__has": OuterRef("pk")})))
        .values_list("pk", "tagged")
    )
    assert by_copy == {t.pk: rows.filter(tags=t).exists() for t in tags}


@pytest.mark.parametrize(
    ("field", "sql", "index"),
    [
        ("tag_pks", '"tag_pks" @> ARRAY[%s]::bigint[]', "pgarticle_tag_pks_gin"),
        ("tag_ids", '"tag_ids" @> %s::jsonb', "pgarticle_tag_ids_gin"),
        ("tag_info", '"tag_info" @> %s::jsonb', "pgarticle_tag_info_gin"),
    ],
)
def test_postgres_sql_is_served_by_a_gin_index(
    field: str, sql: str, index: str, pg_data: tuple[list[PgArticle], list[PgTag]]
) -> None:
    _, tags = pg_data
    qs = PgArticle.objects.using("postgres").filter(**{f"{field}__has": tags[0].pk})
    compiled, params = qs.query.get_compiler("postgres").as_sql()
    assert sql in compiled
    pk = tags[0].pk
    expected = {"tag_pks": pk, "tag_ids": f"[{pk}]", "tag_info": f'[{{"id": {pk}}}]'}
    assert expected[field] in params
    # With sequential scans off, the planner must find the index usable for @> (jsonb_path_ops
    # on the JSON copies, the default array_ops on the array).
    with connections["postgres"].cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            cursor.execute(f"EXPLAIN {compiled}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")
    assert index in plan, plan


def test_sqlite_sql() -> None:
    qs = Article.objects.filter(tag_info__has=3)
    compiled, params = qs.query.get_compiler("default").as_sql()
    assert "EXISTS (SELECT 1 FROM json_each(" in compiled
    assert "json_extract(json_each.value, '$.id') = %s" in compiled
    assert 3 in params
