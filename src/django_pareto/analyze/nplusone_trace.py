"""Per request: which repeated queries are N+1 loops, over which parent rows.

Pure functions over one request's ``RequestQueryRow``s (in execution order) and the
schema map. The parent of a loop is the query earlier in the same request that read the
parent model's rows: its call site is where the queryset is evaluated, the line to change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import models

from django_pareto.analyze import nplusone_fix as kinds
from django_pareto.analyze.nplusone_relation import Access, accesses
from django_pareto.analyze.nplusone_sql import QueryShape, shape_of
from django_pareto.analyze.schema import SchemaMap
from django_pareto.store.records import RequestQueryRow

_MAX_CHAIN = 4  # author -> profile -> ...: deeper chains are rare and costly to trace


@dataclass(frozen=True)
class Loop:
    """One N+1 in one request."""

    row: RequestQueryRow
    shape: QueryShape | None
    kind: str  # one of the kinds of nplusone_fix
    access: Access | None
    root: type[models.Model] | None  # model of the queryset that should change
    path: str  # relation path from ``root``: "author__profile"
    parent: RequestQueryRow | None  # the query that read the root rows (None: untraced)


def is_select(sql: str) -> bool:
    return sql.lstrip()[:6].upper() == "SELECT"


def is_loop(row: RequestQueryRow, threshold: int) -> bool:
    """Repeated ``threshold`` times or more with parameters that vary (a loop over rows)."""
    if row.calls < threshold or not is_select(row.sql):
        return False
    if row.distinct_params > 1:
        return True
    # 0: parameters unknown (e.g. raw SQL without parameters): a loop unless all repeats.
    return row.distinct_params == 0 and row.max_repeats < row.calls


def loops_of(rows: Sequence[RequestQueryRow], threshold: int, schema: SchemaMap) -> list[Loop]:
    """The N+1 loops of one request (``rows`` are that request's rows)."""
    tracer = _Tracer(rows, threshold, schema)
    return [tracer.loop(row) for row in rows if is_loop(row, threshold)]


class _Tracer:
    def __init__(self, rows: Sequence[RequestQueryRow], threshold: int, schema: SchemaMap):
        self.rows = sorted(rows, key=lambda r: r.first_seq)
        self.threshold = threshold
        self.schema = schema
        self._memo: dict[tuple[str, str | None, str], Loop] = {}

    def loop(self, row: RequestQueryRow, depth: int = 0) -> Loop:
        key = (row.fingerprint_id, row.callsite, row.alias)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._classify(row, depth)
        return found

    def _classify(self, row: RequestQueryRow, depth: int) -> Loop:
        shape = shape_of(row.sql)
        candidates = accesses(shape, self.schema) if shape is not None else []
        if shape is None or not candidates:
            return Loop(row, shape, kinds.LOOP, None, None, "", None)
        # Several relations can explain the query (two FKs to auth_user): prefer the one
        # whose parent rows were read earlier in this request.
        traced = [(a, self._parent_of(row, a, depth)) for a in candidates]
        # A FK column in WHERE beats a key column (see accesses()), then the nearest parent.
        with_parent = [(a, t) for a, t in traced if t[2] is not None]
        access, (root, path, parent) = max(
            with_parent,
            key=lambda at: (at[0].back_field is not None, at[1][2].first_seq if at[1][2] else -1),
            default=traced[0],
        )
        return Loop(row, shape, self._kind(row, shape, access), access, root, path, parent)

    def _kind(self, row: RequestQueryRow, shape: QueryShape, access: Access) -> str:
        if shape.aggregate == "count" and not access.joinable:
            return kinds.COUNT
        if shape.aggregate == "exists" and access.kind != "forward_fk":
            return kinds.EXISTS
        if shape.aggregate is not None:
            return kinds.LOOP
        if access.joinable:
            return kinds.SELECT_RELATED
        if self._prefetched(row, access):
            return kinds.BYPASSED
        if kinds.adds_to_relation(access, shape, self.schema):
            return kinds.FILTERED
        return kinds.PREFETCH_RELATED

    def _earlier(self, row: RequestQueryRow) -> list[tuple[RequestQueryRow, QueryShape]]:
        """Queries before ``row`` that return rows, nearest first."""
        found = []
        for other in self.rows:
            if other.first_seq >= row.first_seq or other.fingerprint_id == row.fingerprint_id:
                continue
            shape = shape_of(other.sql)
            if shape is not None and shape.aggregate is None:
                found.append((other, shape))
        return found[::-1]

    def _single_row(self, shape: QueryShape) -> bool:
        """Is the query filtered by a unique column of its table (at most one row)?"""
        for table, column in shape.equals:
            field = self.schema.field(table, column) if table == shape.table else None
            if field is not None and (field.primary_key or field.unique):
                return True
        return False

    def _prefetched(self, row: RequestQueryRow, access: Access) -> bool:
        """Did a prefetch_related() of this relation run before (``IN (...)`` on its key)?"""
        return any(access.column in shape.in_lists for _, shape in self._earlier(row))

    def _parent_of(
        self, row: RequestQueryRow, access: Access, depth: int
    ) -> tuple[type[models.Model] | None, str, RequestQueryRow | None]:
        """(model of the queryset to change, relation path from it, the query that read it)."""
        parent_table = access.parent._meta.db_table
        earlier = self._earlier(row)
        for other, shape in earlier:
            if shape.table != parent_table:
                continue
            if not is_loop(other, self.threshold) and self._single_row(shape):
                continue  # one row (a .get(), the viewer's profile) cannot feed a loop
            # The parent rows came from an N+1 themselves (article.author, then
            # .author.profile): the fix goes on the queryset above both.
            if depth < _MAX_CHAIN and is_loop(other, self.threshold):
                upstream = self.loop(other, depth + 1)
                up, root = upstream.access, upstream.root
                if up is not None and up.joinable and up.target is access.parent and root:
                    return root, f"{upstream.path}__{access.accessor}", upstream.parent
            return access.parent, access.accessor, other
        # Parent rows loaded by a JOIN (select_related): the path goes through that JOIN.
        for other, shape in earlier:
            if parent_table not in shape.joined:
                continue
            root = self.schema.model(shape.table)
            hop = _joinable_field(root, access.parent) if root is not None else None
            if root is not None and hop is not None:
                return root, f"{hop}__{access.accessor}", other
        return access.parent, access.accessor, None


def _joinable_field(model: type[models.Model], target: type[models.Model]) -> str | None:
    for field in model._meta.concrete_fields:
        if (field.many_to_one or field.one_to_one) and field.related_model is target:
            return field.name
    return None
