"""The cache model behind ``pareto.C001``-``C003``: what a cache would have answered in a run.

Pure functions over the store's records (no Django, no database). A recorded run is replayed
in request order (``started_at``) against an imaginary cache whose entries are invalidated
whenever a table they read is written, as ``django_pareto.querycache`` does:

- a read *hits* when an identical read happened earlier, after the last write to any table
  it reads; otherwise it misses (and fills the cache);
- "identical" is only known for SQL that binds no parameter. The store keeps no parameter
  values (they are user data), so a read that binds parameters is assumed to differ in
  every request: it is never counted as a hit across requests. That is the conservative
  side: the savings of what *is* flagged are not inflated by guesses.

Literals that Django writes into the SQL itself are told apart from bound parameters by
where they stand: ``GROUP BY 1`` / ``ORDER BY 4`` (select-list positions, fixed by the
queryset's shape) are not parameters; ``LIMIT 20`` is a slice written in the code, assumed
the same at every execution from one line (so the cache key includes the call site);
``OFFSET`` varies with the page and counts as a parameter.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from django_pareto.analyze.sqlparse import VALUE, executable, parse
from django_pareto.querycache.sqlinfo import volatile_part
from django_pareto.store.records import RequestQueryRow

# A GET of a small value from Redis or memcached on loopback or a LAN: ~0.1-0.2 ms of
# network round trip plus the client's (de)serialization. A constant rather than a
# measurement: the analysis may run far from production (a laptop reading a copied store),
# where timing the local CACHES would say nothing about the site's. Large values cost more
# (unpickling rows): one reason a hit must save twice this (``CacheAnalyzer.min_speedup``).
ROUND_TRIP_MS = 0.3

READ, WRITE, OTHER = "read", "write", "other"

# How much is known about two executions of one read being the same query (its cache key):
FIXED = "fixed"  # binds no parameter: every execution is the same query
PER_CALLSITE = "per-callsite"  # only LIMIT literals: the same query from one line of code
BOUNDED = "bounded"  # binds values of columns with few possible values (a boolean, choices)
VARYING = "varying"  # binds parameters (not recorded): repeats across requests unknown
VOLATILE = "volatile"  # RANDOM(), NOW(), FOR UPDATE: a cached answer would be wrong

_WRITE_WORDS = {
    *("INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE", "TRUNCATE", "COPY"),
    *("CREATE", "ALTER", "DROP"),  # DDL in a request is rare; it changes what reads return
}
_FIRST_WORD = re.compile(r"[\s(]*(\w+)")  # "(SELECT ...) UNION (...)" starts with SELECT
# Routes without URL parameters: one route is one page (query strings aside).
_STATIC_ROUTE = re.compile(r"[\w\-./~%]*")

Clock = tuple[int, int]  # (request index in the run, position of the query in the request)
NEVER: Clock = (-1, -1)
END = sys.maxsize  # "at some point in this request": for what the group does not place


@dataclass(frozen=True)
class Statement:
    kind: str  # READ, WRITE or OTHER
    tables: tuple[str, ...]  # a read: the tables it reads; a write: the tables it writes
    identity: str = VARYING  # of a read
    why: str = ""  # what makes a read VARYING or VOLATILE
    # A VARYING read whose every bound value is compared for equality with a column:
    # (table, column) per value. If those columns have few possible values, it is BOUNDED.
    columns: tuple[tuple[str, str], ...] = ()
    limit: bool = False  # has a LIMIT literal: the cache key includes the call site


@lru_cache(maxsize=4096)
def classify(sql: str, tables: tuple[str, ...]) -> Statement:
    """What a fingerprint does to the cache: a read (and how identical), a write, neither."""
    first = _FIRST_WORD.match(sql)
    head = first.group(1).upper() if first else ""
    parsed = parse(sql)
    if parsed.kind in ("insert", "update", "delete") or head in _WRITE_WORDS:
        # What it writes is invalidated; the tables a write only reads (a subquery) are not.
        # Unreadable or DDL: every table it names, the cautious choice.
        return Statement(WRITE, (parsed.target,) if parsed.target else tables)
    if head not in ("SELECT", "WITH") or not tables:
        return Statement(OTHER, ())  # SAVEPOINT, SET, SELECT 1: no table data to cache
    if (volatile := volatile_part(sql)) is not None:
        return Statement(READ, tables, VOLATILE, f"{volatile.upper()} in the SQL")
    roles = slot_roles(sql)
    if roles is None:
        return Statement(READ, tables, VARYING, "the SQL could not be read")
    limit = "limit" in roles
    bound = [r for r in roles if r not in ("ordinal", "limit")]
    if not bound:
        return Statement(READ, tables, PER_CALLSITE if limit else FIXED, limit=limit)
    if "offset" in bound:
        return Statement(READ, tables, VARYING, "OFFSET (a page number)", limit=limit)
    # Which columns the values are compared with (sqlparse's slots): an IN (...) list was
    # collapsed, so how many values it bound is unknown.
    columns = tuple(
        (slot.table, slot.column)
        for slot in parse(sql).slots
        if slot.role == VALUE and slot.table and slot.column
    )
    if len(columns) != len(bound) or "(...)" in sql:
        columns = ()
    return Statement(READ, tables, VARYING, "bound parameters", columns, limit)


@lru_cache(maxsize=4096)
def slot_roles(sql: str) -> tuple[str, ...] | None:
    """The role of every ``%s`` of a fingerprint: ordinal, limit, offset or value.

    ``None`` when the SQL cannot be read (then nothing is assumed about its parameters).
    """
    text = executable(sql)
    count = text.count("%s")
    if not count:
        return ()
    try:
        tree = sqlglot.parse_one(text.replace("%s", ":p"), read="postgres")
    except (SqlglotError, RecursionError, ValueError):
        return None
    roles = []
    for holder in tree.find_all(exp.Placeholder):
        parent = holder.parent
        if isinstance(parent, exp.Group) or (
            isinstance(parent, exp.Ordered) and isinstance(parent.parent, exp.Order)
        ):
            roles.append("ordinal")  # GROUP BY 1 / ORDER BY 4: a select-list position
        elif isinstance(parent, exp.Limit):
            roles.append("limit")
        elif isinstance(parent, exp.Offset):
            roles.append("offset")
        else:
            roles.append("value")
    return tuple(roles) if len(roles) == count else None


@lru_cache(maxsize=4096)
def main_table(sql: str) -> str | None:
    """The table in the outermost FROM: what the query is about (its model)."""
    try:
        tree = sqlglot.parse_one(executable(sql).replace("%s", ":p"), read="postgres")
    except (SqlglotError, RecursionError, ValueError):
        return None
    source = tree.find(exp.From)
    table = source.this if source is not None else None
    return table.name if isinstance(table, exp.Table) and table.name else None


def is_static(endpoint: str) -> bool:
    """``"GET /catalog/"``: a route without URL parameters (``<slug:slug>``, regex groups)."""
    route = endpoint.split(" ", 1)[-1]
    return _STATIC_ROUTE.fullmatch(route) is not None


@dataclass
class ReadUse:
    """One read fingerprint from one call site over the run, as the cache would have seen it.

    Counts are weighted by sampling (what the sampled requests stand for), except
    ``requests`` and ``hit_requests`` (sampled requests: how much evidence there is).
    """

    fingerprint_id: str
    sql: str
    callsite: str | None
    statement: Statement
    identity: str  # the statement's, or BOUNDED when its columns have few values
    values: int | None = None  # BOUNDED: how many different queries it can be at most
    calls: float = 0.0  # executions
    total_ms: float = 0.0
    lookups: float = 0.0  # the first execution of its cache key in each request
    hits: float = 0.0
    invalidated: float = 0.0  # misses because a table it reads was written since the fill
    repeats: float = 0.0  # executions after the first of its key within a request (N002's)
    requests: int = 0
    hit_requests: int = 0
    endpoints: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def template(self) -> bool:
        """Issued while a template renders (the call site is a template line)."""
        return bool(self.callsite and self.callsite.endswith(" in <template>"))

    @property
    def judged(self) -> bool:
        """Whether repeats across requests are known (or bounded), so a hit rate means
        something."""
        return self.identity in (FIXED, PER_CALLSITE, BOUNDED)


@dataclass
class PageUse:
    """One endpoint (GET or HEAD) over the run: what a page cache would have answered."""

    endpoint: str
    lookups: float = 0.0  # requests
    hits: float = 0.0
    invalidated: float = 0.0
    requests: int = 0
    hit_requests: int = 0
    identical: float = 0.0  # requests whose every read binds no parameter
    writing: float = 0.0  # requests that write (a page cache would skip the write)
    varying: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # why -> n
    written: set[str] = field(default_factory=set)  # tables its requests write
    tables: set[str] = field(default_factory=set)  # tables its requests read


@dataclass
class TableTraffic:
    reads: float = 0.0  # executions of reads of the table (weighted)
    writes: float = 0.0


@dataclass
class CacheRun:
    reads: dict[tuple[str, str | None], ReadUse] = field(default_factory=dict)
    pages: dict[str, PageUse] = field(default_factory=dict)
    tables: dict[str, TableTraffic] = field(default_factory=lambda: defaultdict(TableTraffic))


# (table, column) -> how many different values it can hold, or None when not few/known.
Domain = Callable[[str, str], "int | None"]


def simulate(rows: Iterable[RequestQueryRow], domain: Domain | None = None) -> CacheRun:
    """Replay the run (rows in request order, as the store returns them) against a cache.

    Within a request, a group's executions are placed at its first one (``first_seq``);
    a write group of several executions is placed at the end of its request, since where
    its later executions fell among the reads is unknown (the cautious choice: it
    invalidates every read of the request that follows it).

    ``domain`` bounds reads whose parameters are compared with columns of few values
    (a boolean: 2). Such a read is at most that many different queries; after each write
    to its tables the first that many lookups are counted as misses, the rest as hits
    (the worst order the values could have come in).
    """
    by_request: dict[int, list[RequestQueryRow]] = defaultdict(list)
    for row in rows:
        by_request[row.request_id].append(row)
    replay = _Replay(domain or (lambda table, column: None))
    for index, request in enumerate(by_request.values()):
        request.sort(key=lambda r: r.first_seq)
        replay.request(index, request)
    return replay.run


class _Replay:
    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.run = CacheRun()
        self.last_write: dict[str, Clock] = {}
        self.filled: dict[object, Clock] = {}  # cache key -> when its entry was last valid
        # BOUNDED key -> (the last write before its latest lookup, lookups since that write,
        # whether an earlier write already dropped its entries)
        self.epochs: dict[object, tuple[Clock, int, bool]] = {}

    def fence(self, tables: Iterable[str]) -> Clock:
        """The last write to any of ``tables``: entries filled before it are invalid."""
        return max((self.last_write.get(t, NEVER) for t in tables), default=NEVER)

    def use(self, row: RequestQueryRow, statement: Statement) -> ReadUse:
        use = self.run.reads.get((row.fingerprint_id, row.callsite))
        if use is None:
            identity, values = statement.identity, None
            if identity == VARYING and statement.columns:
                values = 1
                for table, column in statement.columns:
                    n = self.domain(table, column)
                    values = values * n if n is not None and values is not None else None
                identity = BOUNDED if values is not None else VARYING
            use = ReadUse(row.fingerprint_id, row.sql, row.callsite, statement, identity, values)
            self.run.reads[(row.fingerprint_id, row.callsite)] = use
        return use

    def request(self, index: int, request: list[RequestQueryRow]) -> None:
        weight, endpoint = request[0].weight, request[0].endpoint
        seen: set[object] = set()
        wrote: set[str] = set()
        read: set[str] = set()
        page_key: set[tuple[str, str | None]] = set()
        varying: str | None = None if is_static(endpoint) else "the route has URL parameters"
        for row in request:
            statement = classify(row.sql, row.tables)
            if statement.kind == WRITE:
                clock = (index, row.first_seq if row.calls == 1 else END)
                for table in statement.tables:
                    self.last_write[table] = max(self.last_write.get(table, NEVER), clock)
                    self.run.tables[table].writes += row.calls * weight
                wrote.update(statement.tables)
                continue
            if statement.kind != READ:
                continue
            use = self.use(row, statement)
            use.calls += row.calls * weight
            use.total_ms += row.total_ms * weight
            for table in statement.tables:
                self.run.tables[table].reads += row.calls * weight
            read.update(statement.tables)
            page_key.add((row.fingerprint_id, row.callsite))
            key: object = row.fingerprint_id
            if statement.limit:
                key = (row.fingerprint_id, row.callsite)
            if use.identity in (FIXED, PER_CALLSITE) and row.distinct_params <= 1:
                if key in seen:
                    use.repeats += row.calls * weight  # again in this request: N002's part
                    continue
                seen.add(key)
                use.repeats += (row.calls - 1) * weight
                self.lookup(use, key, (index, row.first_seq), weight, endpoint)
                continue
            varying = varying or (statement.why or "bound parameters")
            if use.identity == BOUNDED and use.values is not None:
                self.bounded(use, key, max(row.distinct_params, 1), weight, endpoint)
            else:
                use.lookups += weight  # assumed a new query in every request: a miss
                use.requests += 1
                use.endpoints[endpoint] += weight
        if endpoint.split(" ", 1)[0] in ("GET", "HEAD"):
            self.page(index, endpoint, weight, wrote, read, page_key, varying)

    def lookup(self, use: ReadUse, key: object, clock: Clock, weight: float, endpoint: str) -> None:
        """One lookup of a known key: a hit if filled after the last write to its tables."""
        use.lookups += weight
        use.requests += 1
        use.endpoints[endpoint] += weight
        was = self.filled.get(key)
        if was is not None and was > self.fence(use.statement.tables):
            use.hits += weight
            use.hit_requests += 1
        elif was is not None:
            use.invalidated += weight
        self.filled[key] = clock

    def bounded(self, use: ReadUse, key: object, n: int, weight: float, endpoint: str) -> None:
        """``n`` lookups (different values) of a key that has at most ``use.values`` values."""
        assert use.values is not None
        fence = self.fence(use.statement.tables)
        since, count, earlier = self.epochs.get(key, (NEVER, 0, False))
        if key in self.epochs and since != fence:
            count, earlier = 0, True  # written since: every value must be read again
        hits = min(n, max(0, count + n - use.values))
        use.lookups += n * weight
        use.requests += 1
        use.endpoints[endpoint] += n * weight
        use.hits += hits * weight
        use.hit_requests += hits > 0
        if earlier:
            use.invalidated += (n - hits) * weight
        self.epochs[key] = (fence, count + n, earlier)

    def page(
        self,
        index: int,
        endpoint: str,
        weight: float,
        wrote: set[str],
        read: set[str],
        page_key: set[tuple[str, str | None]],
        varying: str | None,
    ) -> None:
        page = self.run.pages.get(endpoint)
        if page is None:
            page = self.run.pages[endpoint] = PageUse(endpoint)
        page.lookups += weight
        page.requests += 1
        page.tables |= read
        if wrote:
            page.writing += weight
            page.written |= wrote
            return
        if varying is not None:
            page.varying[varying] += weight
            return
        page.identical += weight
        # The same endpoint running the same parameterless queries: the same page, assumed
        # (query strings are not recorded; one that changes no query changes no data).
        key = ("page", endpoint, frozenset(page_key))
        was = self.filled.get(key)
        if was is not None and was > self.fence(read):
            page.hits += weight
            page.hit_requests += 1
        elif was is not None:
            page.invalidated += weight
        self.filled[key] = (index, END)  # filled when the response is complete
