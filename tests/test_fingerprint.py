"""Fingerprinting is a pure function: a table of SQL in, normalized SQL out."""

from __future__ import annotations

import pytest

from django_pareto.capture.fingerprint import fingerprint_id, normalize


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        # IN-lists of any length collapse, so prefetches of 3 and of 300 rows are one query.
        ('SELECT * FROM "t" WHERE "id" IN (%s, %s, %s)', 'SELECT * FROM "t" WHERE "id" IN (...)'),
        ('SELECT * FROM "t" WHERE "id" IN (%s)', 'SELECT * FROM "t" WHERE "id" IN (...)'),
        ('SELECT * FROM "t" WHERE "id" in (%s,%s)', 'SELECT * FROM "t" WHERE "id" IN (...)'),
        # Whitespace, newlines and padding inside parentheses.
        ("SELECT  a,\n\t b FROM t WHERE ( x = %s )", "SELECT a, b FROM t WHERE (x = %s)"),
        # Literals that Django inlines (LIMIT/OFFSET) or that raw SQL carries.
        ('SELECT "a" FROM "t" LIMIT 21', 'SELECT "a" FROM "t" LIMIT %s'),
        ('SELECT "a" FROM "t" LIMIT 20 OFFSET 40', 'SELECT "a" FROM "t" LIMIT %s OFFSET %s'),
        (
            "SELECT * FROM t WHERE name = 'O''Brien' AND n = -3.5",
            "SELECT * FROM t WHERE name = %s AND n = %s",
        ),
        ("SELECT * FROM t WHERE s = 'a 1 (b)'", "SELECT * FROM t WHERE s = %s"),
        # Digits inside identifiers are not literals.
        (
            'SELECT "t1"."col2" FROM "t1" WHERE "t1"."v3" = %s',
            'SELECT "t1"."col2" FROM "t1" WHERE "t1"."v3" = %s',
        ),
        ("SELECT x1 FROM table2", "SELECT x1 FROM table2"),
        # Multi-row inserts (bulk_create) of any size are one fingerprint.
        (
            'INSERT INTO "t" ("a", "b") VALUES (%s, %s), (%s, %s), (%s, %s)',
            'INSERT INTO "t" ("a", "b") VALUES (%s, %s), ...',
        ),
        (
            'INSERT INTO "t" ("a") VALUES (%s) RETURNING "t"."id"',
            'INSERT INTO "t" ("a") VALUES (%s) RETURNING "t"."id"',
        ),
        # Django's savepoint names carry the thread id and a counter.
        ('SAVEPOINT "s140216_x12"', 'SAVEPOINT "s_x"'),
        ('RELEASE SAVEPOINT "s99_x1"', 'RELEASE SAVEPOINT "s_x"'),
    ],
)
def test_normalize(sql: str, expected: str) -> None:
    assert normalize(sql) == expected


def test_same_query_different_lists_share_an_id() -> None:
    a = normalize('SELECT * FROM "t" WHERE "id" IN (%s, %s)')
    b = normalize('SELECT * FROM "t" WHERE "id" IN (%s, %s, %s, %s)')
    assert fingerprint_id(a) == fingerprint_id(b)
    assert fingerprint_id(a) != fingerprint_id(normalize('SELECT * FROM "u" WHERE "id" IN (%s)'))
    assert len(fingerprint_id(a)) == 16
