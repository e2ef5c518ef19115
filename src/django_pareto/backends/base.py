"""What every vendor backend answers, and the parts that are the same for all of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from django_pareto.analyze.sqlparse import (
    ESCAPE,
    LIMIT,
    OFFSET,
    PATTERN,
    ParsedQuery,
    Predicate,
    index_predicates,
)

# Bound for LIMIT slots: Django pages and slices are tens of rows.
SAMPLE_LIMIT = 20
# How deep into a table a representative row is looked for: bounded so that sampling a
# huge table stays one short read.
SAMPLE_OFFSET_CAP = 10_000
# Rows re-inserted to measure what an index costs on writes: enough to time, a few seconds
# at most even on slow disks.
WRITE_SAMPLE_ROWS = 2_000


class UnsupportedDatabase(Exception):
    """The alias's vendor has no backend here (e.g. MySQL, Oracle)."""


@dataclass(frozen=True)
class ExistingIndex:
    """An index the database has, as introspected (Django's ``get_constraints``)."""

    name: str
    table: str
    columns: tuple[str, ...]
    orders: tuple[str, ...] = ()  # "ASC"/"DESC" per column where the vendor reports it
    unique: bool = False
    primary_key: bool = False
    expressions: bool = False  # some part is an expression, e.g. UPPER("username")
    partial: bool = False  # has a WHERE clause
    plain: bool = True  # default method and operator classes (a B-tree usable for =, <, sort)
    signature: str = ""  # equal signatures: the same index under two names
    definition: str = ""  # the vendor's CREATE INDEX text when known

    @property
    def predicates(self) -> frozenset[Predicate] | None:
        """A partial index's WHERE as predicates; ``None`` when it says more than they can."""
        return index_predicates(self.definition) if self.partial else frozenset()

    def serves(
        self,
        columns: tuple[str, ...],
        directions: tuple[bool, ...] = (),
        *,
        where_implied: bool = False,
    ) -> bool:
        """Can this index serve lookups on ``columns`` as its leading columns?

        A partial index serves only queries whose WHERE implies its own: the caller says so
        with ``where_implied``.
        """
        if self.expressions or (self.partial and not where_implied) or not self.plain:
            return False
        if self.columns[: len(columns)] != columns:
            return False
        if len(directions) < 2:
            return True  # one column: a B-tree is read backwards as cheaply as forwards
        # A multi-column sort is served when every direction matches, or every one inverts.
        own = tuple(o == "DESC" for o in self.orders[: len(directions)])
        if len(own) < len(directions):
            own = own + (False,) * (len(directions) - len(own))
        inverted = tuple(not d for d in directions)
        return own in (tuple(directions), inverted)


@dataclass(frozen=True)
class Plan:
    """What the planner chose: its cost (vendor units or measured ms) and indexes used."""

    cost: float
    indexes: tuple[str, ...]
    text: str
    measured: bool = False  # cost is a measured time in ms (SQLite), not planner units


@dataclass(frozen=True)
class InsertCost:
    rows: int
    with_ms: float  # inserting ``rows`` with every index
    without_ms: float  # with the indexes in question dropped

    @property
    def overhead(self) -> float:
        """Share of insert time spent on the indexes in question."""
        return 1 - self.without_ms / self.with_ms if self.with_ms > 0 else 0.0


@dataclass
class Binding:
    """Values for a fingerprint's ``%s`` slots, or why there are none."""

    params: list[Any] = field(default_factory=list)
    problem: str | None = None


class DatabaseBackend:
    """One Django database alias seen by the index analyzers."""

    vendor = ""
    # Can a query be planned with an index that does not exist (HypoPG)?
    supports_hypothetical_indexes = False
    # Can an index be built on an expression such as UPPER("username")?
    supports_expression_indexes = True
    # Does iexact compile to UPPER(col) = UPPER(%s), which an expression index serves?
    iexact_uses_upper = False
    # Does the database count the scans of each index (pg_stat_user_indexes)?
    has_index_usage_stats = False
    # Can an index be built without locking writes (CREATE INDEX CONCURRENTLY)?
    supports_concurrent_index_builds = False

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self._samples: dict[tuple[str, str], Any] = {}
        self._indexes: dict[str, list[ExistingIndex]] = {}

    @property
    def connection(self) -> BaseDatabaseWrapper:
        return connections[self.alias]

    def query(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []

    def table_exists(self, table: str) -> bool:
        with self.connection.cursor() as cursor:
            return table in self.connection.introspection.table_names(cursor)

    def primary_key(self, table: str) -> tuple[str, ...]:
        return next((i.columns for i in self.indexes(table) if i.primary_key), ())

    def indexes(self, table: str) -> list[ExistingIndex]:
        """The table's indexes (read once per backend: what-ifs never leave one behind)."""
        if table not in self._indexes:
            self._indexes[table] = self._read_indexes(table)
        return self._indexes[table]

    def _read_indexes(self, table: str) -> list[ExistingIndex]:
        with self.connection.cursor() as cursor:
            constraints = self.connection.introspection.get_constraints(cursor, table)
        found: list[ExistingIndex] = []
        for name, info in constraints.items():
            if not (info.get("index") or info.get("unique") or info.get("primary_key")):
                continue
            if info.get("check") or info.get("foreign_key"):
                continue
            found.append(self._existing(table, name, dict(info), tuple(info.get("columns") or [])))
        return sorted(found, key=lambda i: i.name)

    def _existing(
        self, table: str, name: str, info: dict[str, Any], columns: tuple[str, ...]
    ) -> ExistingIndex:
        """``columns`` as introspected: ``None`` (or nothing) where a part is an expression."""
        orders = tuple(o or "ASC" for o in info.get("orders") or [])
        plain_columns = tuple(c for c in columns if c)
        return ExistingIndex(
            name=name,
            table=table,
            columns=plain_columns,
            expressions=not columns or len(plain_columns) < len(columns),
            orders=orders,
            unique=bool(info.get("unique")),
            primary_key=bool(info.get("primary_key")),
            signature=f"{plain_columns}{orders}",
        )

    # -- statistics ---------------------------------------------------------------------
    def row_count(self, table: str) -> int:
        raise NotImplementedError

    def match_fraction(self, table: str, column: str) -> float | None:
        """Expected share of rows an equality on ``column`` matches, for a random row's value.

        The sum over values of (share of rows)^2: 0.905 for a 95/5 boolean, 1/n for a
        unique column. ``None`` when unknown.
        """
        raise NotImplementedError

    def predicate_fraction(self, table: str, predicate: Predicate) -> float | None:
        """Share of the table's rows that ``predicate`` matches; ``None`` when unknown."""
        raise NotImplementedError

    def sample_value(self, table: str, column: str) -> Any:
        """A representative value of ``column``: the one of a row in the middle of the table.

        Fingerprints carry no parameters; a real row's value is what a request for an
        existing object looks up, and the middle row avoids the oldest/newest extremes.
        """
        key = (table, column)
        if key not in self._samples:
            qn = self.connection.ops.quote_name
            offset = min(self.row_count(table) // 2, SAMPLE_OFFSET_CAP)
            rows = self.query(
                f"SELECT {qn(column)} FROM {qn(table)} WHERE {qn(column)} IS NOT NULL "
                f"LIMIT 1 OFFSET {int(offset)}"
            )
            self._samples[key] = rows[0][0] if rows else None
        return self._samples[key]

    def bind(self, parsed: ParsedQuery) -> Binding:
        """Representative values for every slot of a fingerprint."""
        binding = Binding()
        for slot in parsed.slots:
            if slot.role == LIMIT:
                binding.params.append(SAMPLE_LIMIT)
            elif slot.role == OFFSET:
                binding.params.append(0)
            elif slot.role == ESCAPE:
                binding.params.append("\\")
            elif slot.table and slot.column:
                value = self.sample_value(slot.table, slot.column)
                if value is None:
                    binding.problem = f"no value of {slot.table}.{slot.column} to plan with"
                    return binding
                binding.params.append(value if slot.role != PATTERN else str(value))
            else:
                # A slot not compared with a column: Django's SELECT 1 AS "a" of .exists(),
                # an annotation's constant. 1 plans the same in either.
                binding.params.append(1)
        return binding

    # -- plans --------------------------------------------------------------------------
    def explain(self, sql: str, params: list[Any]) -> Plan | None:
        """The plan of one statement; ``None`` if the database refuses it."""
        try:
            with transaction.atomic(using=self.alias):
                return self._explain(sql, params)
        except DatabaseError:
            return None

    def _explain(self, sql: str, params: list[Any]) -> Plan:
        raise NotImplementedError

    def compare(
        self, sql: str, params: list[Any], table: str, create_sql: str
    ) -> tuple[Plan, Plan] | None:
        """The plan of ``sql`` without and with the index ``create_sql`` (not left behind)."""
        raise NotImplementedError

    # -- writes -------------------------------------------------------------------------
    def index_scans(self, table: str) -> dict[str, int] | None:
        """Scans per index name since statistics were reset, where the database counts them."""
        return None

    def insert_cost(self, table: str, drop: list[str]) -> InsertCost | None:
        """Time to insert up to WRITE_SAMPLE_ROWS rows with all indexes and without ``drop``."""
        raise NotImplementedError
