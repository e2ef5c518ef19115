"""How a recorded query uses a many-to-many relation, read from its through table's joins.

Pure functions over SQL text (sqlglot) and the app registry. For ``Article.tags`` (through
``blog_article_tags``, columns ``article_id`` to the model and ``tag_id`` to the target):

- ``FROM blog_tag JOIN through ON tag.id = through.tag_id WHERE through.article_id IN (...)``:
  a prefetch (``PREFETCH``); ``= %s``: the tags of one article (``PER_ROW``, a loop when
  repeated);
- ``FROM blog_article JOIN through ON article.id = through.article_id ...``: a list of
  articles joined through the relation, to filter it (``FILTER``: ``tags__slug=...``,
  ``tags=3``, ``tag.articles.all()``) or to count or sort by it (``JOIN``);
  ``article.id IN (SELECT U1.article_id FROM through U1 ...)`` filters too;
- the tag side's own reads (``Tag.articles`` prefetched, ``Tag.objects.filter(articles__...)``)
  are ``REVERSE``: a copy on Article does not serve them.

Which columns of the target a read selects tells what a copy must hold (ids, a few fields).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from django.apps import apps
from django.db import models
from sqlglot import exp
from sqlglot.errors import SqlglotError

from django_pareto.analyze.schema import SchemaMap
from django_pareto.analyze.sqlparse import conjuncts
from django_pareto.store.tables import parseable

PREFETCH, PER_ROW, FILTER, JOIN, REVERSE = "prefetch", "per_row", "filter", "join", "reverse"
# Django names the column that carries the parent's key in a prefetch through a m2m so.
_PREFETCH_ALIAS = "_prefetch_related_val_"

_Col = tuple[str, str]  # (alias in the statement, column)
_Resolve = Callable[[exp.Expression], "_Col | None"]


@dataclass(frozen=True)
class ManyToMany:
    """A many-to-many field, as its through table stores it."""

    model: type[models.Model]  # the model that declares the field
    name: str  # "tags"
    target: type[models.Model]
    through_table: str
    source: str  # the through column that points at ``model``: "article_id"
    target_column: str  # the through column that points at ``target``: "tag_id"
    explicit: bool  # through= a model of the project's own

    @property
    def label(self) -> str:
        return f"{self.model._meta.label}.{self.name}"

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    @property
    def target_table(self) -> str:
        return self.target._meta.db_table


@dataclass(frozen=True)
class Use:
    """One way one statement uses one relation."""

    kind: str  # PREFETCH, PER_ROW, FILTER, JOIN or REVERSE
    columns: tuple[str, ...] = ()  # columns of the target table it selects
    counts: bool = False  # selects an aggregate (a count of the relation) rather than rows


def relation_of(schema: SchemaMap, through_table: str) -> ManyToMany | None:
    """The many-to-many field whose through table this is (auto-created or explicit)."""
    through = schema.model(through_table)
    return _by_through(schema).get(through) if through is not None else None


# Per SchemaMap, which is per analysis: the models installed then (tests add and remove apps).
@lru_cache(maxsize=4)
def _by_through(schema: SchemaMap) -> dict[type[models.Model], ManyToMany]:
    found: dict[type[models.Model], ManyToMany] = {}
    for model in apps.get_models():
        for field in model._meta.local_many_to_many:
            through = field.remote_field.through
            target = field.related_model
            if not isinstance(through, type) or not isinstance(target, type):
                continue
            found.setdefault(
                through,
                ManyToMany(
                    model=model,
                    name=field.name,
                    target=target,
                    through_table=through._meta.db_table,
                    source=field.m2m_column_name(),
                    target_column=field.m2m_reverse_name(),
                    explicit=not through._meta.auto_created,
                ),
            )
    return found


@lru_cache(maxsize=4096)
def uses(sql: str, relation: ManyToMany) -> tuple[Use, ...]:
    """How a SELECT uses ``relation``: one entry per SELECT scope that reads its through table."""
    try:
        tree = sqlglot.parse_one(parseable(sql), read="postgres")
    except (SqlglotError, RecursionError, ValueError):
        return ()
    if tree is None:
        return ()
    found = []
    for scope in tree.find_all(exp.Select):
        use = _scope_use(scope, relation, top=scope is tree)
        if use is not None:
            found.append(use)
    return tuple(found)


def _scope_use(scope: exp.Select, relation: ManyToMany, *, top: bool) -> Use | None:
    tables = {t.alias_or_name: t.name for t in _own_tables(scope)}
    through = {alias for alias, name in tables.items() if name == relation.through_table}
    if not through:
        return None

    def column(node: exp.Expression) -> tuple[str, str] | None:
        """(alias, column) of a column reference of this scope."""
        while isinstance(node, exp.Paren | exp.Cast):
            node = node.this
        if not isinstance(node, exp.Column) or not node.name:
            return None
        if node.table:
            return (node.table, node.name) if node.table in tables else None
        return (next(iter(tables)), node.name) if len(tables) == 1 else None

    # Which aliases are joined to the through table by which of its two columns.
    by_source: set[str] = set()  # the model's side: article.id = through.article_id
    by_target: set[str] = set()  # the target's side: tag.id = through.tag_id
    extra_on: list[exp.Expression] = []
    for join in scope.args.get("joins") or []:
        for term in conjuncts(join.args["on"]) if join.args.get("on") is not None else []:
            pair = _columns_equal(term, column)
            if pair is None:
                extra_on.append(term)
                continue
            for (a, col), (b, _) in (pair, pair[::-1]):
                if a in through and b not in through:
                    if col == relation.source:
                        by_source.add(b)
                    elif col == relation.target_column:
                        by_target.add(b)
    where = scope.args.get("where")
    where_terms = conjuncts(where.this) if where is not None else []
    keyed = _keyed(where_terms, through, relation.source, column)
    selects = list(scope.expressions)
    prefetch_alias = any(s.alias_or_name.startswith(_PREFETCH_ALIAS) for s in selects)
    counts = any(s.find(exp.Count) is not None for s in selects)

    source = scope.args.get("from_") or scope.args.get("from")
    rows_of = source.this.alias_or_name if source is not None else None  # what it returns

    if keyed is not None and not by_source:
        # The relation of known parents: a prefetch (IN) or one parent's rows (=).
        if not by_target and _keyed(where_terms, through, relation.target_column, column):
            return None  # .add()/.remove() checking which rows exist: part of a write
        picked = _selected(selects, by_target, column)
        return Use(PREFETCH if keyed == "in" else PER_ROW, picked, counts)
    if by_source and rows_of not in by_target:
        if prefetch_alias:
            return Use(REVERSE)  # Tag.articles prefetched: parents keyed by the tag
        related = through | by_target
        terms = [*where_terms, *extra_on]
        filters = any(_mentions(t, related, column) for t in terms) or bool(
            scope.args.get("having")
        )
        return Use(FILTER if filters else JOIN)
    if not top and (
        _selects_source(selects, through, relation.source, column)
        or _correlated(where_terms, through, relation.source, column)
    ):
        # article.id IN (SELECT U1.article_id FROM through U1 ...), and exclude()'s
        # NOT EXISTS (SELECT ... FROM through U1 ... WHERE U1.article_id = article.id)
        return Use(FILTER)
    return Use(REVERSE)


def _own_tables(scope: exp.Select) -> Iterator[exp.Table]:
    """The tables in this SELECT's FROM and JOINs (not those of its subqueries)."""
    source = scope.args.get("from_") or scope.args.get("from")
    parts = [source.this] if source is not None else []
    parts += [join.this for join in scope.args.get("joins") or []]
    for part in parts:
        if isinstance(part, exp.Table) and part.name:
            yield part


def _columns_equal(term: exp.Expression, column: _Resolve) -> tuple[_Col, _Col] | None:
    if not isinstance(term, exp.EQ):
        return None
    left, right = column(term.this), column(term.expression)
    return (left, right) if left is not None and right is not None else None


def _is_parameter(node: exp.Expression) -> bool:
    # A fingerprint's %s and collapsed IN (...) are NULL once made parseable.
    return isinstance(node, exp.Null | exp.Placeholder | exp.Literal)


def _on(col: _Col | None, through: set[str], name: str) -> bool:
    """Is ``col`` the through table's column ``name``?"""
    return col is not None and col[0] in through and col[1] == name


def _keyed(
    terms: list[exp.Expression], through: set[str], name: str, column: _Resolve
) -> str | None:
    """ "eq" or "in" when WHERE compares the through column ``name`` with parameters."""
    for term in terms:
        if isinstance(term, exp.In) and not term.args.get("query"):
            if _on(column(term.this), through, name):
                return "in"
        elif isinstance(term, exp.EQ):
            for side, value in ((term.this, term.expression), (term.expression, term.this)):
                if _on(column(side), through, name) and _is_parameter(value):
                    return "eq"
    return None


def _correlated(
    terms: list[exp.Expression], through: set[str], name: str, column: _Resolve
) -> bool:
    """Does a subquery tie the through column ``name`` to a column of the outer query?"""
    for term in terms:
        if not isinstance(term, exp.EQ):
            continue
        for side, other in ((term.this, term.expression), (term.expression, term.this)):
            outer = other.this if isinstance(other, exp.Paren) else other
            outside = isinstance(outer, exp.Column) and column(outer) is None
            if outside and _on(column(side), through, name):
                return True
    return False


def _mentions(term: exp.Expression, aliases: set[str], column: _Resolve) -> bool:
    return any(
        (col := column(node)) is not None and col[0] in aliases
        for node in term.find_all(exp.Column)
    )


def _selected(
    selects: list[exp.Expression], aliases: set[str], column: _Resolve
) -> tuple[str, ...]:
    """Columns of the target table the SELECT list returns, in order, once each."""
    found: list[str] = []
    for select in selects:
        if select.alias_or_name.startswith(_PREFETCH_ALIAS) or select.find(exp.Count):
            continue
        for node in select.find_all(exp.Column):
            col = column(node)
            if col is not None and col[0] in aliases and col[1] not in found:
                found.append(col[1])
    return tuple(found)


def _selects_source(
    selects: list[exp.Expression], through: set[str], name: str, column: _Resolve
) -> bool:
    return any(
        _on(column(node), through, name)
        for select in selects
        for node in select.find_all(exp.Column)
    )
