"""Partial indexes for rare-value filters, the part of pareto.I001 that reads conditions.

A query that filters on a condition whose value the SQL spells out (``WHERE "is_featured"``,
``"deleted_at" IS NULL``) and that the database says matches few rows is served best by an
index holding only those rows: ``CREATE INDEX ... (the rest of the query's columns) WHERE
<condition>``. It is a fraction of a full index's size, and writes to rows outside the
condition never touch it. These helpers answer the questions about one condition; the
analyzer in ``indexes`` builds, screens and verifies the candidates.
"""

from __future__ import annotations

from django.db import models

from django_pareto.analyze.schema import SchemaMap
from django_pareto.analyze.sqlparse import (
    IS_FALSE,
    IS_TRUE,
    NOT_NULL,
    VALUE,
    ParsedQuery,
    Predicate,
    TableUse,
)
from django_pareto.backends import DatabaseBackend

# A condition matching at most this share of the rows gets a partial index: the index is
# then at most a tenth of a full one (and a tenth of the table's writes maintain it), and the
# query reads at most a tenth of the table through it. Above that a condition is a common
# value: a partial index would be nearly a full one, and the planner soon prefers a scan.
MAX_PARTIAL_FRACTION = 0.1


def key_use(use: TableUse, predicate: Predicate) -> TableUse:
    """What the query does with the table besides ``predicate``: what the index is keyed on.

    The condition's column is constant inside the index (always true, always NULL), so it is
    no key; functions are left to the full expression indexes.
    """
    return TableUse(
        use.table,
        equality=[c for c in use.equality if c != predicate.column],
        in_list=[c for c in use.in_list if c != predicate.column],
        range=list(use.range),
        order_by=list(use.order_by),
    )


def sort_columns(parsed: ParsedQuery, use: TableUse) -> list[tuple[str, bool]]:
    """The ORDER BY when every sort column is on this table (else no index can serve it)."""
    if any(t.order_by for t in parsed.tables.values() if t is not use):
        return []
    return list(use.order_by)


def parameter_note(
    backend: DatabaseBackend,
    schema: SchemaMap,
    parsed: ParsedQuery,
    use: TableUse,
    min_rows: int,
    seen: dict[tuple[str, str, str], str | None],
) -> list[str]:
    """Why a rare flag compared with a ``%s`` gets no partial index, once per column.

    Django compiles ``flag=True`` to ``"flag" = %s`` where the database has no boolean type
    (SQLite), and parameters are not stored: whether the query asks for the rare value or the
    common one is unknown, so no partial index can be justified. Said only where one might
    have paid: a table of ``min_rows`` or more where one value is rare.
    """
    notes = []
    for slot in parsed.slots:
        if slot.role != VALUE or slot.table != use.table or slot.column is None:
            continue
        key = (backend.alias, use.table, slot.column)
        if key not in seen:
            seen[key] = _parameter_note(backend, schema, use.table, slot.column, min_rows)
        if (note := seen[key]) is not None:
            notes.append(note)
    return notes


def _parameter_note(
    backend: DatabaseBackend, schema: SchemaMap, table: str, column: str, min_rows: int
) -> str | None:
    if not isinstance(schema.field(table, column), models.BooleanField):
        return None
    if backend.row_count(table) < min_rows:
        return None
    for value in (IS_TRUE, IS_FALSE):
        share = backend.predicate_fraction(table, Predicate(column, value))
        if share is not None and share <= MAX_PARTIAL_FRACTION:
            return (
                f"{table} ({column}): no partial index: {value == IS_TRUE} matches {share:.0%} "
                "of rows, but the value queried is a parameter (%s), not in the recorded SQL"
            )
    return None


def served_by(
    backend: DatabaseBackend,
    predicate: Predicate,
    columns: tuple[str, ...],
    descending: tuple[bool, ...],
    equality: int,
    table: str,
    *,
    fallback: bool,
) -> str | None:
    """The name of an existing index that serves the partial candidate already, if any.

    A partial index with the same condition serves it when its columns lead with the
    candidate's (any of its columns do for a ``fallback`` key, the primary key indexed only
    because the condition is the query's only filter). A full index serves it when the
    condition's column stands among its equality columns: that reads the same few rows; and
    so does a unique index on equality columns of the key, which finds one row at most.
    """
    keys = set(columns[:equality])
    for index in backend.indexes(table):
        if index.unique and index.serves(index.columns) and set(index.columns) <= keys:
            return index.name
        if index.partial:
            if index.predicates != frozenset({predicate}):
                continue
            if fallback or index.serves(columns, descending, where_implied=True):
                return index.name
        elif fallback:
            # The condition alone: an index led by its column finds the rare rows (NULL
            # entries, or the few non-null ones) as well as a partial one would.
            if index.serves((predicate.column,)):
                return index.name
        elif predicate.kind != NOT_NULL:  # IS NOT NULL is a range of a full index, not a key
            shapes = [
                ((predicate.column, *columns), (False, *descending)),
                (
                    (*columns[:equality], predicate.column, *columns[equality:]),
                    (*descending[:equality], False, *descending[equality:]),
                ),
            ]
            if any(index.serves(c, d) for c, d in shapes):
                return index.name
    return None


def field_name(schema: SchemaMap, table: str, column: str) -> str:
    found = schema.field(table, column)
    return found.name if found is not None else column


def condition_q(schema: SchemaMap, table: str, predicate: Predicate) -> str:
    """The condition as the ``Q`` expression of ``models.Index(condition=...)``."""
    suffix, value = predicate.lookup
    return f"Q({field_name(schema, table, predicate.column)}{suffix}={value!r})"


def create_sql(
    backend: DatabaseBackend,
    schema: SchemaMap,
    table: str,
    name: str,
    fields: tuple[str, ...],
    predicate: Predicate,
) -> str | None:
    """The CREATE INDEX that the migration of ``pareto fix`` will run, as Django writes it.

    Verifying that statement, not one of our own, matters for a partial index: the planner
    uses it only when the query's WHERE implies the index's, and the vendors differ in how
    the condition is spelled (``"flag"`` on PostgreSQL, ``"flag" = 1`` on SQLite).
    ``None`` for a table without a model.
    """
    model = schema.model(table)
    if model is None or schema.field(table, predicate.column) is None:
        return None
    suffix, value = predicate.lookup
    condition = models.Q(**{field_name(schema, table, predicate.column) + suffix: value})
    index = models.Index(fields=list(fields), condition=condition, name=name)
    # Building the statement needs no database round trip, only the vendor's compiler.
    return str(index.create_sql(model, backend.connection.schema_editor()))
