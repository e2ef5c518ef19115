"""Fingerprints of the SQL Django generates for common lookups, read as per-table columns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.db.models import QuerySet

from django_pareto.analyze.sqlparse import (
    ESCAPE,
    IS_FALSE,
    IS_NULL,
    IS_TRUE,
    LIMIT,
    NOT_NULL,
    OFFSET,
    PATTERN,
    VALUE,
    Predicate,
    index_predicates,
    parse,
)
from django_pareto.capture.fingerprint import normalize
from tests.index_app.models import Hit, Item, Member

D = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
ITEM, MEMBER = "index_app_item", "index_app_member"


def fingerprint(qs: QuerySet[Any]) -> str:
    sql, _ = qs.query.get_compiler(using="default").as_sql()
    return normalize(sql)


def use(sql: str, table: str) -> dict[str, Any]:
    t = parse(sql).tables[table]
    return {
        k: v
        for k, v in {
            "eq": t.equality, "in": t.in_list, "range": t.range, "order": t.order_by,
            "join": t.join, "func": t.functions, "like": t.patterns,
        }.items()
        if v
    }  # fmt: skip


CASES: list[tuple[str, Callable[[], QuerySet[Any]], str, dict[str, Any]]] = [
    ("exact", lambda: Item.objects.filter(sku="a"), ITEM, {"eq": ["sku"]}),
    ("in", lambda: Item.objects.filter(score__in=[1, 2, 3]), ITEM, {"in": ["score"]}),
    (
        "range",
        lambda: Item.objects.filter(created_at__range=(D, D)),
        ITEM,
        {"range": ["created_at"]},
    ),
    ("gte", lambda: Item.objects.filter(score__gte=3), ITEM, {"range": ["score"]}),
    ("boolean", lambda: Item.objects.filter(visible=True), ITEM, {"eq": ["visible"]}),
    ("isnull", lambda: Item.objects.filter(kind__isnull=True), ITEM, {"eq": ["kind_id"]}),
    ("startswith", lambda: Item.objects.filter(slug__startswith="a"), ITEM, {"like": ["slug"]}),
    (
        "order_by desc with limit",
        lambda: Item.objects.filter(owner_id=1).order_by("-created_at", "id")[:10],
        ITEM,
        {"eq": ["owner_id"], "order": [("created_at", True), ("id", False)]},
    ),
    (
        "join through a FK",
        lambda: Item.objects.filter(owner__city="x"),
        MEMBER,
        {"eq": ["city"], "join": ["id"]},
    ),
    (
        "subquery",
        lambda: Item.objects.filter(owner__in=Member.objects.filter(city="x")),
        MEMBER,
        {"eq": ["city"]},
    ),
    (
        "not equal is not an index predicate",
        lambda: Item.objects.filter(sku="a").exclude(score=3),
        ITEM,
        {"eq": ["sku"]},
    ),
]


@pytest.mark.parametrize(
    ("name", "queryset", "table", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_columns_of_common_lookups(
    name: str, queryset: Callable[[], QuerySet[Any]], table: str, expected: dict[str, Any]
) -> None:
    assert use(fingerprint(queryset()), table) == expected


def test_limit_and_slots_in_text_order() -> None:
    sql = fingerprint(Item.objects.filter(sku="a", score=3).order_by("-created_at")[5:25])
    parsed = parse(sql)
    assert parsed.kind == "select" and parsed.has_limit
    values = [(s.role, s.column) for s in parsed.slots[:2]]
    assert sorted(values) == [(VALUE, "score"), (VALUE, "sku")]
    assert [s.role for s in parsed.slots[2:]] == [LIMIT, OFFSET]


def test_iexact_is_a_function_on_postgresql_and_a_pattern_on_sqlite() -> None:
    pg = 'SELECT "m"."id" FROM "index_app_member" "m" WHERE UPPER("m"."handle"::text) = UPPER(%s)'
    assert use(pg, MEMBER) == {"func": [("UPPER", "handle")]}
    sqlite = fingerprint(Member.objects.filter(handle__iexact="Ann"))
    assert connection.vendor == "sqlite"
    assert use(sqlite, MEMBER) == {"like": ["handle"]}
    assert [s.role for s in parse(sqlite).slots] == [PATTERN, ESCAPE]


def test_writes_name_their_target_table() -> None:
    insert = normalize('INSERT INTO "index_app_hit" ("item_id", "path") VALUES (%s, %s), (%s, %s)')
    update = 'UPDATE "index_app_item" SET "score" = ("index_app_item"."score" + %s) WHERE "index_app_item"."id" = %s'
    delete = 'DELETE FROM "index_app_hit" WHERE "index_app_hit"."item_id" IN (...)'
    assert (parse(insert).kind, parse(insert).target) == ("insert", "index_app_hit")
    assert (parse(update).kind, parse(update).target) == ("update", ITEM)
    assert use(update, ITEM) == {"eq": ["id"]}
    assert (parse(delete).kind, parse(delete).target) == ("delete", "index_app_hit")
    assert use(delete, "index_app_hit") == {"in": ["item_id"]}
    assert Hit._meta.db_table == "index_app_hit"


def test_unparsable_sql_is_reported_not_raised() -> None:
    parsed = parse("SELEC nonsense FROM (")
    assert parsed.error is not None and parsed.tables == {}


T = 'SELECT "t"."id" FROM "t" WHERE '
# (WHERE clause, predicates, equality columns): PostgreSQL writes boolean lookups out
# ("flag", NOT "flag"); SQLite passes them as %s, where the value is unknown.
PREDICATES: list[tuple[str, list[Predicate], list[str]]] = [
    ('"t"."flag"', [Predicate("flag", IS_TRUE)], ["flag"]),
    ('NOT "t"."flag"', [Predicate("flag", IS_FALSE)], ["flag"]),
    ('"t"."flag" = true', [Predicate("flag", IS_TRUE)], ["flag"]),
    ('"t"."d" IS NULL', [Predicate("d", IS_NULL)], ["d"]),
    # IS NOT NULL is a range of a B-tree, not an equality column
    ('"t"."d" IS NOT NULL', [Predicate("d", NOT_NULL)], []),
    ('NOT ("t"."d" IS NULL)', [Predicate("d", NOT_NULL)], []),
    (
        '("t"."d" IS NULL AND "t"."o" = %s)',
        [Predicate("d", IS_NULL)],
        ["d", "o"],
    ),
    ('"t"."flag" = %s', [], ["flag"]),  # SQLite's filter(flag=True)
    ('"t"."flag" IS NOT TRUE', [], []),  # matches NULL too: not NOT "flag"
    ('("t"."flag" OR "t"."d" IS NULL)', [], []),  # no single index
]


@pytest.mark.parametrize(("where", "predicates", "equality"), PREDICATES)
def test_conditions_written_out_in_the_sql(
    where: str, predicates: list[Predicate], equality: list[str]
) -> None:
    use = parse(normalize(T + where)).tables["t"]
    assert (use.predicates, use.equality) == (predicates, equality)


def test_django_writes_these_conditions() -> None:
    sql = fingerprint(Item.objects.filter(kind__isnull=True, created_at__isnull=False))
    assert set(parse(sql).tables[ITEM].predicates) == {
        Predicate("kind_id", IS_NULL),
        Predicate("created_at", NOT_NULL),
    }
    # A reverse relation "is null" is a missing match of an outer join, not rows of the table.
    sql = fingerprint(Member.objects.filter(items__isnull=True))
    assert parse(sql).tables[ITEM].predicates == []


def test_the_condition_of_an_existing_partial_index() -> None:
    # as PostgreSQL's pg_get_indexdef and SQLite's sqlite_master give them
    pg = "CREATE INDEX i ON public.t USING btree (c DESC) WHERE (archived_at IS NULL)"
    assert index_predicates(pg) == frozenset({Predicate("archived_at", IS_NULL)})
    both = "CREATE INDEX i ON t USING btree (c) WHERE ((NOT is_hidden) AND (d IS NOT NULL))"
    assert index_predicates(both) == frozenset(
        {Predicate("is_hidden", IS_FALSE), Predicate("d", NOT_NULL)}
    )
    assert index_predicates('CREATE INDEX "i" ON "t" ("c")') == frozenset()
    # a condition these predicates cannot say: the index is never taken to serve a query
    assert index_predicates('CREATE INDEX "i" ON "t" ("c") WHERE "n" > 3') is None
