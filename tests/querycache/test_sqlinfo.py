"""What the statement hook tells from SQL text: the tables a write changes, a read's
identifiers, and reads whose result can change without a write."""

from __future__ import annotations

import pytest

from django_pareto.querycache.sqlinfo import ALL, OTHER, READ, WRITE, classify


@pytest.mark.parametrize(
    ("sql", "tables"),
    [
        ('INSERT INTO "blog_post" ("title") VALUES (%s)', {"blog_post"}),
        ('UPDATE "blog_post" SET "votes" = %s WHERE "blog_post"."id" = %s', {"blog_post"}),
        (
            'DELETE FROM "blog_post_tags" WHERE "blog_post_tags"."post_id" IN (%s)',
            {"blog_post_tags"},
        ),
        ("  insert into Blog_Post (title) values ('x')", {"blog_post"}),
        ('INSERT OR IGNORE INTO "t" ("a") VALUES (1)', {"t"}),
        ('UPDATE ONLY "public"."t" SET a = 1', {"t"}),
        ("REPLACE INTO `t` (a) VALUES (1)", {"t"}),
        ("/* a comment */ DELETE FROM t", {"t"}),
        ("WITH moved AS (DELETE FROM a RETURNING *) INSERT INTO b SELECT * FROM moved", {"a", "b"}),
        ('TRUNCATE "a", "b"', {ALL}),
        ("ALTER TABLE t ADD COLUMN c integer", {ALL}),
        ("CALL refresh_everything()", {ALL}),
        ("COPY t FROM STDIN", {"t"}),
    ],
)
def test_writes(sql: str, tables: set[str]) -> None:
    stmt = classify(sql)
    assert stmt.kind == WRITE
    assert stmt.tables == tables


@pytest.mark.parametrize(
    "sql",
    [
        "SAVEPOINT s1",
        "RELEASE SAVEPOINT s1",
        "BEGIN",
        "COMMIT",
        "SET TIME ZONE 'UTC'",
        "EXPLAIN SELECT 1",
        'CREATE INDEX "t_a_idx" ON "t" ("a")',
        "DROP INDEX t_a_idx",
        "COPY t TO STDOUT",
        "PRAGMA foreign_keys = ON",
    ],
)
def test_statements_that_change_no_rows(sql: str) -> None:
    assert classify(sql).kind == OTHER


def test_reads_name_every_identifier_and_flag_volatile_ones() -> None:
    stmt = classify('SELECT "a"."id" FROM "blog_post" "a" INNER JOIN Blog_Tag ON (1=1)')
    assert stmt.kind == READ
    assert {"blog_post", "blog_tag", "a", "id"} <= stmt.tables
    assert not stmt.volatile
    # A CTE whose word "update" is only a column: still a read.
    assert classify('WITH x AS (SELECT "update" FROM t) SELECT * FROM x').kind == READ
    for sql in (
        "SELECT * FROM t ORDER BY RANDOM()",
        "SELECT * FROM t WHERE d < CURRENT_TIMESTAMP",
        "SELECT * FROM t WHERE d < NOW()",
        "SELECT STRFTIME('%Y', 'NOW')",
        'SELECT * FROM "t" WHERE "t"."id" = %s FOR UPDATE',
        "SELECT nextval('s')",
    ):
        assert classify(sql).volatile, sql
    assert not classify('SELECT "t"."uuid", "t"."now_playing" FROM "t"').volatile
