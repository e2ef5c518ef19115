"""The middleware that measures each request. Put it first in ``MIDDLEWARE``.

Per request it records the endpoint (the resolved route, not the raw path), method,
status, wall time, database time and query count; for sampled requests also each query.

It also hands those numbers to the client (``PARETO["SERVER_TIMING"]``, on by default) in
a W3C ``Server-Timing`` header, which browsers' devtools show under Timing and
``pareto load`` uses to split latency into database, application and queueing::

    Server-Timing: db;dur=3.25;desc="database", total;dur=12.80;desc="django", queries;desc="7"

``dur`` is in milliseconds. ``total`` runs until the view (and the middleware after this
one) returned, so streaming a response's body is not in it; nor are queries run while
streaming. The query count is a description, not a ``dur``, so that devtools do not
draw it as a time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponseBase

from django_pareto import conf
from django_pareto.capture import recorder
from django_pareto.capture.health import record_fault
from django_pareto.capture.writer import get_writer
from django_pareto.store.records import RequestRecord

UNRESOLVED = "<unresolved>"
NO_CAPTURE = "pareto_no_capture"
View = TypeVar("View", bound=Callable[..., Any])


def no_capture(view: View) -> View:
    """Never record requests answered by ``view`` (the dashboard: it would record itself).

    The view is only known once the URL is resolved, after the capture has begun: its
    record is dropped when the request ends, wherever the view is mounted.
    """
    setattr(view, NO_CAPTURE, True)
    return view


def endpoint_of(request: HttpRequest) -> tuple[str, str]:
    """(endpoint, view name) of a handled request.

    The endpoint is the method and the resolved route, never the raw path, so that
    "/articles/a/" and "/articles/b/" add up: ("GET /articles/<slug:slug>/", "blog:article").
    """
    method = request.method or "GET"
    match = getattr(request, "resolver_match", None)
    if match is None:
        return f"{method} {UNRESOLVED}", ""
    route = match.route or ""
    return f"{method} /{route.lstrip('^/')}", match.view_name or ""


class ParetoMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        settings = conf.get()
        if not settings.ENABLED:
            raise MiddlewareNotUsed("PARETO['ENABLED'] is False")
        self.get_response = get_response
        self.settings = settings
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        capture, started, wall = self._begin(request)
        if capture is None:
            return self.get_response(request)
        token = recorder.current.set(capture)
        response: HttpResponseBase | None = None
        try:
            response = self.get_response(request)
        finally:
            recorder.current.reset(token)
            self._finish(request, response, capture, started, wall)
        return response

    async def __acall__(self, request: HttpRequest) -> Any:
        capture, started, wall = self._begin(request)
        if capture is None:
            return await self._await(request)
        token = recorder.current.set(capture)
        response: HttpResponseBase | None = None
        try:
            response = await self._await(request)
        finally:
            recorder.current.reset(token)
            self._finish(request, response, capture, started, wall)
        return response

    async def _await(self, request: HttpRequest) -> Any:
        result: Awaitable[Any] = self.get_response(request)
        return await result

    def _begin(self, request: HttpRequest) -> tuple[recorder.RequestCapture | None, int, float]:
        try:
            if request.path.startswith(self.settings.IGNORE_PATHS):
                return None, 0, 0.0
            recorder.install_for_this_thread()
            rate = self.settings.SAMPLE_RATE
            capture = recorder.RequestCapture(
                sampled=rate >= 1.0 or random.random() < rate,
                max_events=self.settings.MAX_QUERIES_PER_REQUEST,
                record_params=self.settings.RECORD_PARAMS,
            )
            return capture, time.perf_counter_ns(), time.time()
        except Exception as exc:
            record_fault("capture", exc)
            return None, 0, 0.0

    def _finish(
        self,
        request: HttpRequest,
        response: HttpResponseBase | None,
        capture: recorder.RequestCapture,
        started: int,
        wall: float,
    ) -> None:
        duration_ms = (time.perf_counter_ns() - started) / 1e6
        if response is not None and self.settings.SERVER_TIMING:
            add_server_timing(response, capture.db_ns / 1e6, duration_ms, capture.query_count)
        try:
            match = getattr(request, "resolver_match", None)
            if match is not None and getattr(match.func, NO_CAPTURE, False):
                return
            endpoint, view_name = endpoint_of(request)
            rate = self.settings.SAMPLE_RATE
            record = RequestRecord(
                id=random.getrandbits(63),
                endpoint=endpoint,
                view_name=view_name,
                method=request.method or "GET",
                status=response.status_code if response is not None else 500,
                started_at=wall,
                duration_ms=duration_ms,
                db_ms=capture.db_ns / 1e6,
                query_count=capture.query_count,
                sampled=capture.sampled,
                weight=1.0 / rate if capture.sampled and rate > 0 else 1.0,
                queries=capture.events,
                dropped_queries=capture.dropped,
            )
            get_writer().submit(self.settings.RUN, record)
        except Exception as exc:
            record_fault("capture", exc)


def server_timing(db_ms: float, total_ms: float, queries: int) -> str:
    return (
        f'db;dur={db_ms:.2f};desc="database", total;dur={total_ms:.2f};desc="django", '
        f'queries;desc="{queries}"'
    )


def add_server_timing(
    response: HttpResponseBase, db_ms: float, total_ms: float, queries: int
) -> None:
    """Add our metrics to the response's Server-Timing header, after the app's own."""
    try:
        value = server_timing(db_ms, total_ms, queries)
        existing = response.get("Server-Timing")
        # One header with comma-separated metrics: the spec allows it and every parser
        # (browsers, `pareto load`) reads it, where a second header line might be dropped.
        response["Server-Timing"] = f"{existing}, {value}" if existing else value
    except Exception as exc:
        record_fault("capture", exc)
