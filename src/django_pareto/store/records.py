"""Plain records that flow from capture to the store and from the store to analysis."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


class QueryEvent(NamedTuple):
    """One execution of one SQL statement inside a request (a tuple: made per query)."""

    sql: str  # raw SQL as Django executed it (normalized by the writer, off the request)
    alias: str
    duration_ms: float
    callsite: tuple[str, int, str] | None
    # Tells executions with equal parameters apart within one request without keeping
    # the parameters (user data): Python's hash, meaningful only inside one process.
    params_key: int | None = None
    params: Any = None  # kept only with RECORD_PARAMS


@dataclass(slots=True)
class RequestRecord:
    """One request: always-on numbers plus, when sampled, its queries in detail."""

    id: int
    endpoint: str
    view_name: str
    method: str
    status: int
    started_at: float  # unix time, seconds
    duration_ms: float
    db_ms: float
    query_count: int
    sampled: bool
    weight: float  # 1 / sample rate: what one sampled request stands for
    queries: list[QueryEvent] = field(default_factory=list)
    dropped_queries: int = 0  # queries beyond MAX_QUERIES_PER_REQUEST, counted not kept


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: int
    name: str
    created_at: float
    requests: int
    first_request_at: float | None
    last_request_end: float | None
    faults: int
    meta: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RequestRow:
    endpoint: str
    method: str
    status: int
    started_at: float
    duration_ms: float
    db_ms: float
    query_count: int
    weight: float


@dataclass(frozen=True, slots=True)
class RequestQueryRow:
    """The executions of one fingerprint from one call site on one alias in one request."""

    request_id: int
    endpoint: str
    weight: float  # what the request stands for under sampling
    fingerprint_id: str
    sql: str
    tables: tuple[str, ...]
    callsite: str | None  # "file:line in function"
    alias: str
    first_seq: int  # position of the first execution among the request's queries
    calls: int
    total_ms: float
    max_ms: float
    distinct_params: int  # different parameter sets seen (0 when unknown, e.g. executemany)
    max_repeats: int  # most executions with one identical parameter set


@dataclass(frozen=True, slots=True)
class QueryGroupRow:
    """Query events of one run grouped by (fingerprint, endpoint, call site), weighted."""

    fingerprint_id: str
    sql: str
    tables: tuple[str, ...]
    endpoint: str
    callsite: str | None  # "file:line in function"
    calls: float
    total_ms: float
