"""A fingerprint read as the columns an index could serve: per table, what it filters and sorts.

Pure functions over SQL text (sqlglot, never regexes): the index analyzers turn these facts
into candidate indexes, and the ``%s`` slots into representative parameter values so that
the database can plan the query.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

# Roles of a ``%s`` slot: what value the analyzers must bind to plan the query.
VALUE, LIMIT, OFFSET, ESCAPE, PATTERN, UNKNOWN = (
    "value",
    "limit",
    "offset",
    "escape",
    "pattern",
    "unknown",
)

_PLACEHOLDER = re.compile(r"%s")


@dataclass(frozen=True)
class Slot:
    """One ``%s`` of the fingerprint, in text order: what it is compared with."""

    role: str
    table: str | None = None
    column: str | None = None


@dataclass
class TableUse:
    """How one statement uses one table's columns (each list without duplicates, in order)."""

    table: str
    equality: list[str] = field(default_factory=list)  # col = %s, col IS NULL, bare boolean
    in_list: list[str] = field(default_factory=list)  # col IN (...) or IN (subquery)
    range: list[str] = field(default_factory=list)  # <, <=, >, >=, BETWEEN
    order_by: list[tuple[str, bool]] = field(default_factory=list)  # (column, descending)
    join: list[str] = field(default_factory=list)  # columns in JOIN ... ON equalities
    functions: list[tuple[str, str]] = field(default_factory=list)  # ("UPPER", column) = ...
    patterns: list[str] = field(default_factory=list)  # LIKE / ILIKE: no B-tree prefix use

    def add(self, kind: str, column: str) -> None:
        values: list[str] = getattr(self, kind)
        if column not in values:
            values.append(column)


@dataclass
class ParsedQuery:
    sql: str
    kind: str  # "select", "insert", "update", "delete", "other"
    tables: dict[str, TableUse] = field(default_factory=dict)
    has_limit: bool = False
    target: str | None = None  # the table an INSERT, UPDATE or DELETE writes
    slots: list[Slot] = field(default_factory=list)
    error: str | None = None

    def use(self, table: str) -> TableUse:
        if table not in self.tables:
            self.tables[table] = TableUse(table)
        return self.tables[table]


def executable(sql: str) -> str:
    """The fingerprint as SQL a cursor accepts: a collapsed ``IN (...)`` holds one ``%s``,
    collapsed ``VALUES (...), ...`` rows keep their first row."""
    return sql.replace("IN (...)", "IN (%s)").replace("in (...)", "in (%s)").replace("), ...", ")")


@lru_cache(maxsize=4096)
def parse(sql: str) -> ParsedQuery:
    """Read a fingerprint. Never raises: an unreadable statement comes back with ``error``."""
    text = executable(sql)
    count = 0

    def number(_: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return f":p{count - 1}"

    # Named placeholders keep the text order of the ``%s`` slots through the parse.
    marked = _PLACEHOLDER.sub(number, text)
    result = ParsedQuery(sql=sql, kind="other", slots=[Slot(UNKNOWN)] * count)
    try:
        tree = cast(exp.Expression, sqlglot.parse_one(marked, read="postgres"))
    except (SqlglotError, RecursionError, ValueError) as exc:
        result.error = f"unparsable: {exc.__class__.__name__}"
        return result
    result.kind = {
        exp.Select: "select",
        exp.Union: "select",
        exp.Insert: "insert",
        exp.Update: "update",
        exp.Delete: "delete",
    }.get(type(tree), "other")
    if result.kind in ("insert", "update", "delete"):
        written = tree.this if isinstance(tree.this, exp.Expression) else None
        table = written if isinstance(written, exp.Table) else None
        if table is None and written is not None:
            table = written.find(exp.Table)
        result.target = table.name if table is not None else None
    for scope in [tree, *(s for s in tree.find_all(exp.Select) if s is not tree)]:
        _read_scope(scope, result, top=scope is tree)
    return result


def _aliases(scope: exp.Expression) -> dict[str, str]:
    """Alias (or name) -> table, for the tables this scope reads itself (not its subqueries)."""
    found: dict[str, str] = {}
    for table in scope.find_all(exp.Table):
        if _owner(table) is not scope or not table.name:
            continue
        found[table.alias_or_name] = table.name
        found[table.name] = table.name
    return found


def _owner(node: exp.Expression) -> exp.Expression | None:
    """The nearest enclosing statement or SELECT: the scope a column or table belongs to."""
    parent = node.parent
    while parent is not None and not isinstance(parent, (exp.Select, exp.Update, exp.Delete)):
        parent = parent.parent
    return parent


def _read_scope(scope: exp.Expression, result: ParsedQuery, *, top: bool) -> None:
    aliases = _aliases(scope)
    tables = set(aliases.values())

    def resolve(node: exp.Expression) -> tuple[str, str] | None:
        while isinstance(node, (exp.Cast, exp.Paren)):
            node = node.this
        if not isinstance(node, exp.Column) or not node.name:
            return None
        if node.table:
            table = aliases.get(node.table)
            return (table, node.name) if table else None
        return (next(iter(tables)), node.name) if len(tables) == 1 else None

    def bind(node: exp.Expression, role: str, column: tuple[str, str] | None) -> None:
        for holder in node.find_all(exp.Placeholder):
            index = _slot_index(holder)
            if index is not None and index < len(result.slots) and _owner(holder) is scope:
                table, name = column if column else (None, None)
                result.slots[index] = Slot(role, table or None, name or None)

    where = scope.args.get("where")
    if where is not None:
        for conjunct in conjuncts(where.this):
            _read_predicate(conjunct, result, resolve, bind)
    for join in scope.args.get("joins") or []:
        on = join.args.get("on")
        if on is None:
            continue
        for conjunct in conjuncts(on):
            if isinstance(conjunct, exp.EQ):
                for side in (conjunct.this, conjunct.expression):
                    if (col := resolve(side)) is not None:
                        result.use(col[0]).add("join", col[1])
            else:
                _read_predicate(conjunct, result, resolve, bind)
    limit = scope.args.get("limit")
    if limit is not None:
        result.has_limit = result.has_limit or top
        bind(limit, LIMIT, None)
    offset = scope.args.get("offset")
    if offset is not None:
        bind(offset, OFFSET, None)
    order = scope.args.get("order")
    if order is not None and top:
        for ordered in order.expressions:
            col = resolve(ordered.this)
            if col is not None:
                use = result.use(col[0])
                if col[1] not in [c for c, _ in use.order_by]:
                    use.order_by.append((col[1], bool(ordered.args.get("desc"))))
    for table in tables:
        result.use(table)


def _slot_index(holder: exp.Placeholder) -> int | None:
    name = str(holder.this or "")
    return int(name[1:]) if name.startswith("p") and name[1:].isdigit() else None


def conjuncts(node: exp.Expression) -> list[exp.Expression]:
    """The terms of an AND chain, parentheses removed."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return conjuncts(node.this) + conjuncts(node.expression)
    return [node]


_RANGES = (exp.GT, exp.GTE, exp.LT, exp.LTE)


_Resolve = Callable[[exp.Expression], "tuple[str, str] | None"]
_Bind = Callable[[exp.Expression, str, "tuple[str, str] | None"], None]


def _read_predicate(
    node: exp.Expression, result: ParsedQuery, resolve: _Resolve, bind: _Bind
) -> None:
    """Classify one ANDed condition; ORs and other shapes are left alone (no single index)."""
    if isinstance(node, exp.Escape):
        bind(node.expression, ESCAPE, None)
        node = node.this
    if isinstance(node, exp.Column) and (col := resolve(node)):
        result.use(col[0]).add("equality", col[1])  # WHERE "is_published": col = true
    elif isinstance(node, exp.Not) and (col := resolve(node.this)):
        result.use(col[0]).add("equality", col[1])  # WHERE NOT "is_published"
    elif isinstance(node, exp.Is) and (col := resolve(node.this)):
        result.use(col[0]).add("equality", col[1])  # IS NULL: a B-tree holds NULLs
    elif isinstance(node, exp.EQ):
        left, right = node.this, node.expression
        if resolve(left) is None and resolve(right) is not None:
            left, right = right, left
        if (col := resolve(left)) is not None and resolve(right) is None:
            result.use(col[0]).add("equality", col[1])
            bind(right, VALUE, col)
        elif isinstance(left, exp.Func) and (col := resolve(left.this)) is not None:
            # iexact on PostgreSQL: UPPER("username"::text) = UPPER(%s)
            use = result.use(col[0])
            entry = (left.sql_name().upper(), col[1])
            if entry not in use.functions:
                use.functions.append(entry)
            bind(right, VALUE, col)
    elif isinstance(node, exp.In) and (col := resolve(node.this)) is not None:
        result.use(col[0]).add("in_list", col[1])
        for value in node.expressions:
            bind(value, VALUE, col)
    elif isinstance(node, _RANGES):
        left, right = node.this, node.expression
        if resolve(left) is None:
            left, right = right, left
        if (col := resolve(left)) is not None and resolve(right) is None:
            result.use(col[0]).add("range", col[1])
            bind(right, VALUE, col)
    elif isinstance(node, exp.Between) and (col := resolve(node.this)) is not None:
        result.use(col[0]).add("range", col[1])
        bind(node, VALUE, col)
    elif isinstance(node, (exp.Like, exp.ILike)):
        target = node.this
        if isinstance(target, exp.Func) and not isinstance(target, exp.Cast):
            target = target.this  # UPPER("title"::text) LIKE UPPER(%s)
        if (col := resolve(target)) is not None:
            result.use(col[0]).add("patterns", col[1])
            bind(node.expression, PATTERN, col)
