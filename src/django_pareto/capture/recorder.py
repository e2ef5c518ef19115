"""The per-request recorder and the SQL hook that feeds it.

One ``execute_wrapper`` is installed on every connection (ORM, raw SQL and cursors all go
through it). It does nothing unless a request is being captured in the current context,
which a ``ContextVar`` tells: that also works under ASGI and keeps the toolkit's own
queries (store writes, replay setup) out of the record.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from django_pareto.capture import callsite
from django_pareto.capture.health import record_fault
from django_pareto.store.records import QueryEvent


class RequestCapture:
    """What one request did to the databases, filled in by the SQL hook."""

    __slots__ = (
        "db_ns",
        "dropped",
        "events",
        "max_events",
        "query_count",
        "record_params",
        "sampled",
    )

    def __init__(self, *, sampled: bool, max_events: int, record_params: bool) -> None:
        self.sampled = sampled
        self.max_events = max_events
        self.record_params = record_params
        self.events: list[QueryEvent] = []
        self.query_count = 0
        self.db_ns = 0
        self.dropped = 0


current: ContextVar[RequestCapture | None] = ContextVar("django_pareto_capture", default=None)


def sql_hook(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    capture = current.get()
    if capture is None:
        return execute(sql, params, many, context)
    start = time.perf_counter_ns()
    try:
        return execute(sql, params, many, context)
    finally:
        elapsed = time.perf_counter_ns() - start
        try:
            capture.query_count += 1
            capture.db_ns += elapsed
            if capture.sampled:
                if len(capture.events) < capture.max_events:
                    capture.events.append(
                        QueryEvent(
                            sql,
                            context["connection"].alias,
                            elapsed / 1e6,
                            callsite.find_for(sql),
                            None if many else params_key(params),
                            params if capture.record_params else None,
                        )
                    )
                else:
                    capture.dropped += 1
        except Exception as exc:  # capture must never break the query
            record_fault("capture", exc)


def params_key(params: Any) -> int | None:
    """A cheap key of query parameters: equal parameters give equal keys (in one process)."""
    if params is None:
        return None
    try:
        if isinstance(params, dict):
            return hash(tuple(sorted(params.items())))
        return hash(tuple(params))
    except TypeError:  # unhashable values (lists for arrays, dicts for JSON)
        return hash(repr(params))


def install(connection: BaseDatabaseWrapper) -> None:
    """Add the hook to one connection (idempotent: a connection gets it once)."""
    if sql_hook not in connection.execute_wrappers:
        connection.execute_wrappers.append(sql_hook)


def install_everywhere() -> None:
    """Add the hook to every alias's connection object of this thread."""
    for alias in connections:
        install(connections[alias])


_this_thread = threading.local()


def install_for_this_thread() -> None:
    """``install_everywhere`` once per thread: new connections get the hook on creation."""
    if not getattr(_this_thread, "installed", False):
        install_everywhere()
        _this_thread.installed = True


def on_connection_created(
    sender: object, connection: BaseDatabaseWrapper, **kwargs: object
) -> None:
    install(connection)
