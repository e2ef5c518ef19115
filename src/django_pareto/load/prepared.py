"""The plan as the hot path wants it: per request its bytes, its endpoint's counters and a
status -> accepted table, built once before the run."""

from __future__ import annotations

from django_pareto.load import histograms
from django_pareto.load.connection import Connection, HeadAwareConnection
from django_pareto.load.model import LoadConfig
from django_pareto.load.server_timing import ServerTimingSums

STATUS_LIMIT = 1000  # llhttp accepts three-digit status codes


class EndpointStats:
    __slots__ = ("failures", "name", "recorder", "rejected", "timing")

    def __init__(self, name: str) -> None:
        self.name = name
        self.recorder = histograms.Recorder()
        self.rejected = 0
        self.failures = 0
        self.timing = ServerTimingSums()


class Planned:
    """A planned request as the hot path wants it: bytes, its endpoint's histogram counts
    and a status -> accepted table (an index beats a call to ``accepts``)."""

    __slots__ = ("counts", "endpoint", "head", "ok", "raw")

    def __init__(self, raw: bytes, endpoint: EndpointStats, ok: list[bool], head: bool) -> None:
        self.raw = raw
        self.endpoint = endpoint
        self.counts = endpoint.recorder.counts
        self.ok = ok
        self.head = head


def prepare_plan(
    config: LoadConfig,
) -> tuple[list[Planned], list[EndpointStats], type[Connection]]:
    """The planned requests in order, the endpoints by first appearance, and the
    connection class (HEAD responses need one that ends them at their headers)."""
    endpoints: dict[str, EndpointStats] = {}
    tables: dict[tuple[int, ...] | None, list[bool]] = {}
    plan: list[Planned] = []
    for request in config.requests:
        endpoint = endpoints.setdefault(request.name, EndpointStats(request.name))
        if request.expect not in tables:
            tables[request.expect] = [request.accepts(code) for code in range(STATUS_LIMIT)]
        head = request.method.upper() == "HEAD"
        plan.append(Planned(request.raw, endpoint, tables[request.expect], head))
    any_head = any(planned.head for planned in plan)
    return plan, list(endpoints.values()), HeadAwareConnection if any_head else Connection
