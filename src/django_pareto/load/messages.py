"""What a generator process is given and what it sends back to the parent: plain,
picklable data (histograms travel encoded, as HdrHistogram's compressed form)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from django_pareto.load.model import LoadConfig
from django_pareto.load.server_timing import ServerTimingSums


@dataclass(frozen=True)
class WorkerSpec:
    """One process's share of the run."""

    config: LoadConfig
    index: int
    connections: int
    rate: float | None  # open loop: starts per second of this process
    max_requests: int | None
    seed: int


class Progress(NamedTuple):
    sent: int  # measured
    completed: int  # measured responses
    errors: int  # measured
    responses: int  # all responses, warmup included (for the current rate)
    warming_up: bool


@dataclass
class EndpointReport:
    name: str
    histogram: bytes  # encoded HdrHistogram of uncorrected latencies (µs)
    rejected: int  # responses with a status the plan does not accept
    failures: int  # requests without a response (timeout, connect, reset, invalid)
    timing: ServerTimingSums


@dataclass
class WorkerReport:
    statuses: dict[str, int]
    sent: int
    written_in_window: int  # open loop: measured requests written before the stop
    endpoints: list[EndpointReport]
    corrected: bytes | None  # open loop: encoded latencies from the intended starts
    window_s: float  # from the end of the warmup to the stop or the last response
    start_window_s: float  # from the end of the warmup to the stop
    cpu_s: float
    wall_s: float
    busy: float  # CPU seconds per second from the start to the stop (1.0: a saturated core)
    connections: int
