"""The middleware that measures each request. Put it first in ``MIDDLEWARE``.

Per request it records the endpoint (the resolved route, not the raw path), method,
status, wall time, database time and query count; for sampled requests also each query.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponseBase

from django_pareto import conf
from django_pareto.capture import recorder
from django_pareto.capture.health import record_fault
from django_pareto.capture.writer import get_writer
from django_pareto.store.records import RequestRecord

UNRESOLVED = "<unresolved>"


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
        try:
            duration_ms = (time.perf_counter_ns() - started) / 1e6
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
