"""The shape of a fingerprint that matters to N+1 analysis, read with sqlglot.

Which table a query reads, which columns it filters on with a parameter (the one that
varies per row of a loop), whether it only counts or tests existence, and what it adds
on top of a plain relation lookup (ORDER BY, LIMIT, other conditions): the difference
between ``article.comments.all()`` and ``article.comments.order_by(...).first()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from django_pareto.analyze.sqlparse import conjuncts
from django_pareto.store.tables import parseable

Column = tuple[str, str]  # (table, column)


@dataclass(frozen=True)
class QueryShape:
    table: str  # the table in FROM
    joined: tuple[str, ...]  # tables in JOINs
    equals: tuple[Column, ...]  # columns compared to a parameter: "col" = %s
    in_lists: tuple[Column, ...]  # columns in "col" IN (...): a prefetch or an __in filter
    aggregate: str | None  # "count" (.count()), "exists" (.exists()) or None (rows)
    order_by: tuple[tuple[Column, bool], ...]  # (column, descending)
    limited: bool
    other_conditions: int  # WHERE predicates that are not a parameter comparison

    def extra_filters(self, filter_column: Column) -> bool:
        """Does it filter beyond the relation lookup by ``filter_column``?

        A bare LIMIT is not one: slicing a prefetched ``.all()`` reads the prefetched rows.
        """
        return (
            self.other_conditions > 0
            or bool(self.in_lists)
            or any(c != filter_column for c in self.equals)
        )


def _conditions(where: exp.Expression | None) -> list[exp.Expression]:
    if where is None:
        return []
    return conjuncts(where.this if isinstance(where, exp.Where) else where)


def _is_parameter(node: exp.Expression) -> bool:
    return isinstance(node, exp.Null | exp.Placeholder | exp.Literal)


@lru_cache(maxsize=4096)
def shape_of(sql: str) -> QueryShape | None:
    """The shape of a SELECT fingerprint, or None for anything else or unparseable SQL."""
    if sql.lstrip()[:6].upper() != "SELECT":
        return None
    try:
        statement = sqlglot.parse_one(parseable(sql), read="postgres")
    except (SqlglotError, RecursionError, ValueError):
        return None
    if not isinstance(statement, exp.Select):
        return None
    source = statement.args.get("from_") or statement.args.get("from")
    if source is None or not isinstance(source.this, exp.Table):
        return None
    # Django aliases a table when it joins it twice (T3, U0): resolve aliases to names.
    names = {source.this.alias_or_name: source.this.name}
    joined = []
    for join in statement.args.get("joins") or []:
        if isinstance(join.this, exp.Table):
            names[join.this.alias_or_name] = join.this.name
            joined.append(join.this.name)
    table = source.this.name

    def column(node: exp.Column) -> Column:
        return (names.get(node.table, node.table) if node.table else table, node.name)

    equals: list[Column] = []
    in_lists: list[Column] = []
    others = 0
    for condition in _conditions(statement.args.get("where")):
        if isinstance(condition, exp.EQ):
            left, right = condition.this, condition.expression
            if isinstance(right, exp.Column) and _is_parameter(left):
                left, right = right, left
            if isinstance(left, exp.Column) and _is_parameter(right):
                equals.append(column(left))
                continue
        if isinstance(condition, exp.In) and isinstance(condition.this, exp.Column):
            in_lists.append(column(condition.this))
            continue
        others += 1

    order: list[tuple[Column, bool]] = []
    order_clause = statement.args.get("order")
    for ordered in order_clause.expressions if order_clause else []:
        if isinstance(ordered, exp.Ordered) and isinstance(ordered.this, exp.Column):
            order.append((column(ordered.this), bool(ordered.args.get("desc"))))

    return QueryShape(
        table=table,
        joined=tuple(joined),
        equals=tuple(equals),
        in_lists=tuple(in_lists),
        aggregate=_aggregate(statement),
        order_by=tuple(order),
        limited=statement.args.get("limit") is not None,
        other_conditions=others,
    )


def _aggregate(statement: exp.Select) -> str | None:
    selected = statement.expressions
    if any(s.find(exp.Count) is not None for s in selected):
        return "count"
    # QuerySet.exists() runs SELECT 1 AS "a" ... LIMIT 1 (the 1 is a %s in a fingerprint).
    if (
        len(selected) == 1
        and isinstance(selected[0], exp.Alias)
        and selected[0].alias == "a"
        and _is_parameter(selected[0].this)
    ):
        return "exists"
    return None
