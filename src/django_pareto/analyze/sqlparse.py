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

# Conditions whose value the fingerprint itself holds: what a partial index's WHERE can
# repeat. Capture turns string and number literals into %s, and Django passes most values
# as parameters (booleans too on SQLite, which has no boolean type), so what is left is a
# boolean column tested bare (PostgreSQL), against TRUE/FALSE, and NULL tests.
IS_TRUE, IS_FALSE, IS_NULL, NOT_NULL = "true", "false", "null", "not null"


@dataclass(frozen=True)
class Predicate:
    """A condition on one column with its value written in the SQL (``"flag"``, ``IS NULL``)."""

    column: str
    kind: str  # IS_TRUE, IS_FALSE, IS_NULL or NOT_NULL

    def sql(self, quote: Callable[[str], str] = lambda name: name) -> str:
        column = quote(self.column)
        return {
            IS_TRUE: column,
            IS_FALSE: f"NOT {column}",
            IS_NULL: f"{column} IS NULL",
            NOT_NULL: f"{column} IS NOT NULL",
        }[self.kind]

    @property
    def label(self) -> str:
        return self.sql()

    @property
    def lookup(self) -> tuple[str, bool]:
        """The Django lookup that says the same: ``("", True)`` is ``field=True``."""
        return {
            IS_TRUE: ("", True),
            IS_FALSE: ("", False),
            IS_NULL: ("__isnull", True),
            NOT_NULL: ("__isnull", False),
        }[self.kind]


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
    # (col IS NOT NULL is in ``predicates`` only: it matches a range of a B-tree, every
    # non-null value, which a plain index serves no better than a scan unless nulls dominate,
    # and then a partial index serves it better.)
    in_list: list[str] = field(default_factory=list)  # col IN (...) or IN (subquery)
    range: list[str] = field(default_factory=list)  # <, <=, >, >=, BETWEEN
    order_by: list[tuple[str, bool]] = field(default_factory=list)  # (column, descending)
    join: list[str] = field(default_factory=list)  # columns in JOIN ... ON equalities
    functions: list[tuple[str, str]] = field(default_factory=list)  # ("UPPER", column) = ...
    patterns: list[str] = field(default_factory=list)  # LIKE / ILIKE: no B-tree prefix use
    predicates: list[Predicate] = field(default_factory=list)  # value in the SQL: partial index

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

    # Tables on the nullable side of an outer join: in the WHERE, "t"."id" IS NULL on one of
    # them asks for a missing match (filter(children__isnull=True)), not for rows of it.
    nullable = {
        join.this.name
        for join in scope.args.get("joins") or []
        if join.side in ("LEFT", "FULL") and isinstance(join.this, exp.Table)
    }
    where = scope.args.get("where")
    if where is not None:
        for conjunct in conjuncts(where.this):
            _read_predicate(conjunct, result, resolve, bind, nullable)
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
    node: exp.Expression,
    result: ParsedQuery,
    resolve: _Resolve,
    bind: _Bind,
    nullable: set[str] | None = None,
) -> None:
    """Classify one ANDed condition; ORs and other shapes are left alone (no single index)."""
    if isinstance(node, exp.Escape):
        bind(node.expression, ESCAPE, None)
        node = node.this
    if (found := predicate(node, resolve)) is not None:
        table, fixed = found
        use = result.use(table)
        outer_miss = fixed.kind == IS_NULL and table in (nullable or ())
        if fixed not in use.predicates and not outer_miss:
            use.predicates.append(fixed)
        if fixed.kind != NOT_NULL:
            # WHERE "is_published", NOT "is_published", IS NULL (a B-tree holds NULLs)
            use.add("equality", fixed.column)
    elif isinstance(node, exp.Is) and (col := resolve(node.this)):
        result.use(col[0]).add("equality", col[1])  # "flag" IS NOT TRUE and the like
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


def _unwrap(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def predicate(node: exp.Expression, resolve: _Resolve) -> tuple[str, Predicate] | None:
    """``(table, Predicate)`` when ``node`` tests one column against a value it spells out."""
    node = _unwrap(node)
    negated = isinstance(node, exp.Not)
    if negated:
        node = _unwrap(node.this)
    kind: str | None = None
    target: exp.Expression = node
    if isinstance(node, exp.Column):
        kind = IS_TRUE  # WHERE "is_featured" (PostgreSQL's boolean exact lookup)
    elif isinstance(node, exp.Is | exp.EQ):
        value = node.expression
        target = node.this
        if isinstance(value, exp.Null) and isinstance(node, exp.Is):
            kind = NOT_NULL if node.args.get("negate") else IS_NULL
        elif isinstance(value, exp.Boolean) and not (
            isinstance(node, exp.Is) and (negated or node.args.get("negate"))
        ):
            # "flag" = TRUE, "flag" IS FALSE; but NOT ("flag" IS TRUE) also matches NULL.
            kind = IS_TRUE if value.this else IS_FALSE
    if kind is None or (col := resolve(target)) is None:
        return None
    if negated:
        # NOT "flag" excludes NULL like "flag" = FALSE does; NOT (x IS NULL) is IS NOT NULL.
        kind = {IS_TRUE: IS_FALSE, IS_FALSE: IS_TRUE, IS_NULL: NOT_NULL, NOT_NULL: IS_NULL}[kind]
    return col[0], Predicate(col[1], kind)


@lru_cache(maxsize=1024)
def index_predicates(definition: str) -> frozenset[Predicate] | None:
    """The WHERE of a partial index's CREATE INDEX text as predicates (empty: no WHERE).

    ``None`` when some part of it is not a predicate this module reads: such an index is
    never taken to serve a query.
    """
    try:
        tree = sqlglot.parse_one(definition, read="postgres")
    except (SqlglotError, RecursionError, ValueError):
        return None
    params = tree.find(exp.IndexParameters) if tree is not None else None
    where = params.args.get("where") if params is not None else None
    if where is None:
        return frozenset()

    def resolve(node: exp.Expression) -> tuple[str, str] | None:
        while isinstance(node, exp.Cast | exp.Paren):
            node = node.this
        return ("", node.name) if isinstance(node, exp.Column) and node.name else None

    found = [predicate(term, resolve) for term in conjuncts(where.this)]
    if any(f is None for f in found):
        return None
    return frozenset(f[1] for f in found if f is not None)
