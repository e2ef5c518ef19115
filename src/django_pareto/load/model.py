"""What the load generator is given and what it returns: plain data shared by the engine,
the request plans, the scalability sweep and the reports."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit


class LoadError(Exception):
    """A load test cannot run as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Target:
    """Where the load goes: plain HTTP/1.1 on a host and port (TLS is the proxy's job)."""

    host: str
    port: int
    base_path: str = ""  # prefixed to every request path ("" or "/prefix", no trailing /)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.base_path}/"


def _is_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def parse_target(url: str, allow_remote: bool = False) -> Target:
    """``http://127.0.0.1:8000/`` -> Target; a host that does not resolve to loopback only
    is refused unless ``allow_remote`` (load on someone else's machine is an attack)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme != "http":
        raise LoadError(f"{url}: only http:// targets are supported (put TLS in front, e.g. nginx)")
    if not parts.hostname:
        raise LoadError(f"{url}: no host in the URL")
    if not allow_remote and not _is_loopback(parts.hostname):
        raise LoadError(
            f"{url}: {parts.hostname} is not a loopback address; load tests go to your own "
            "machine unless you pass --allow-remote (and own the target)"
        )
    return Target(parts.hostname, parts.port or 80, parts.path.rstrip("/"))


@dataclass(frozen=True)
class PlannedRequest:
    """One request ready to send: the whole HTTP/1.1 message, built once before the run
    (Host, cookies, CSRF token, Content-Length, keep-alive) so sending costs no work."""

    name: str  # the workload entry it came from: results are also kept per name
    method: str
    path: str
    raw: bytes
    expect: tuple[int, ...] | None = None  # success statuses (default: < 400)

    def accepts(self, status: int) -> bool:
        return status in self.expect if self.expect is not None else status < 400


@dataclass(frozen=True)
class LoadConfig:
    target: Target
    requests: Sequence[PlannedRequest]  # sent in this order, cycled
    mode: Literal["open", "closed"] = "closed"
    rate: float | None = None  # open loop: total requests per second to start
    arrival: Literal["constant", "poisson"] = "constant"  # open loop: spacing of starts
    connections: int = 16  # closed loop: concurrent users; open loop: connections at most
    duration: float = 10.0  # seconds of measurement at most (the run also stops at max_requests)
    max_requests: int | None = None
    warmup: float = 0.0  # seconds sent before measuring, not counted
    processes: int = 0  # generator processes; 0: one per core
    timeout: float = (
        10.0  # seconds before a request counts as an error (and its connection is replaced)
    )
    seed: int = 0


@dataclass
class LatencySummary:
    """Percentiles in milliseconds, from an HdrHistogram (3 significant digits)."""

    count: int = 0
    mean: float = 0.0
    p50: float = 0.0
    p90: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    p999: float = 0.0
    max: float = 0.0


@dataclass
class ServerTimingSummary:
    """Means per response, in milliseconds, from the Server-Timing header of the site's
    capture middleware (db, total): the latency split into database, application and
    queueing (what the client waited beyond the server's own total)."""

    responses: int = 0  # responses that carried the header
    db_ms: float = 0.0
    app_ms: float = 0.0  # total - db
    queue_ms: float = 0.0  # client latency (uncorrected) - total
    queries: float = 0.0


@dataclass
class EndpointResult:
    name: str
    count: int = 0
    errors: int = 0
    latency: LatencySummary = field(default_factory=LatencySummary)  # uncorrected
    server_timing: ServerTimingSummary | None = None


@dataclass
class LoadResult:
    target: str
    mode: str
    rate: float | None  # asked for (open loop)
    connections: int
    processes: int
    duration_s: float  # measured window
    sent: int
    completed: int  # responses received (any status)
    ok: int  # responses the plan accepts
    errors: int  # not accepted, timeouts, connection failures
    status_counts: dict[str, int]  # "200": n, ..., "timeout": n, "connect": n
    throughput_rps: float  # completed responses per second of the window
    corrected: LatencySummary  # from the intended start (open loop) / expected interval
    uncorrected: LatencySummary  # from the moment the request was written
    endpoints: dict[str, EndpointResult]
    server_timing: ServerTimingSummary | None
    client_cpu_s: float  # CPU seconds the generator processes used
    warnings: list[str] = field(default_factory=list)

    @property
    def availability(self) -> float:
        return self.ok / self.completed if self.completed else 0.0

    @property
    def throughput_rpm(self) -> float:
        return self.throughput_rps * 60

    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        data = asdict(self)
        data["availability"] = self.availability
        data["throughput_rpm"] = self.throughput_rpm
        return data
