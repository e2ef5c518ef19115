"""The capacity search on a site whose behaviour is known exactly: a single queue.

The model: service time ``s`` per request, capacity ``1 / s`` per second; at an arrival
rate ``r`` below capacity the p95 of an M/M/1 queue is ``ln(20) * s / (1 - r*s)``. The rate
where it crosses the objective is known in closed form, so the search's answer can be
checked against it.
"""

from __future__ import annotations

import math

import pytest

from django_pareto.load.model import LatencySummary, LoadResult
from django_pareto.load.search import MAX_ERROR_RATE, Objective, find_capacity

SERVICE_S = 0.004  # 250 requests/s at most


def result(throughput: float, p95_ms: float, sent: int = 1000, errors: int = 0) -> LoadResult:
    latency = LatencySummary(count=sent, p50=p95_ms / 3, p95=p95_ms, p99=p95_ms, max=p95_ms)
    return LoadResult(
        target="http://127.0.0.1:8000/",
        mode="open",
        rate=None,
        connections=8,
        processes=1,
        duration_s=sent / throughput if throughput else 1.0,
        sent=sent,
        completed=sent - errors,
        ok=sent - errors,
        errors=errors,
        status_counts={"200": sent - errors},
        throughput_rps=throughput,
        corrected=latency,
        uncorrected=latency,
        endpoints={},
        server_timing=None,
        client_cpu_s=0.1,
    )


class Queue:
    """One server, Poisson arrivals; counts the probes it was asked for."""

    def __init__(self, service_s: float = SERVICE_S, errors_above: float | None = None) -> None:
        self.service_s = service_s
        self.errors_above = errors_above
        self.open_probes: list[float] = []

    @property
    def capacity(self) -> float:
        return 1 / self.service_s

    def p95_ms(self, rate: float) -> float:
        busy = min(rate * self.service_s, 0.999)
        return math.log(20) * self.service_s / (1 - busy) * 1000

    def closed(self) -> LoadResult:
        return result(self.capacity, 900.0)  # flat out: full throughput, long queues

    def open(self, rate: float) -> LoadResult:
        self.open_probes.append(rate)
        reached = min(rate, self.capacity)
        errors = 50 if self.errors_above is not None and rate > self.errors_above else 0
        return result(reached, self.p95_ms(rate), errors=errors)

    def rate_at(self, p95_ms: float) -> float:
        """The arrival rate at which p95 equals ``p95_ms``."""
        return (1 - math.log(20) * self.service_s * 1000 / p95_ms) / self.service_s


@pytest.mark.parametrize("slo_ms", [20.0, 50.0, 200.0])
def test_the_search_finds_the_rate_where_p95_meets_the_objective(slo_ms: float) -> None:
    site = Queue()
    found = find_capacity(site.closed, site.open, Objective(slo_ms), steps=12, precision=0.02)
    exact = site.rate_at(slo_ms)
    assert found.throughput_rps <= exact  # never claims more than the site sustains
    assert found.throughput_rps >= exact * 0.97
    assert found.p95_ms <= slo_ms
    assert found.closed_loop_rps == site.capacity
    # Every probe is recorded, the closed one first; the best is among those that met it.
    assert found.probes[0].rate is None and len(found.probes) == 1 + len(site.open_probes)
    assert found.rate in [p.rate for p in found.probes if p.met]


def test_the_number_of_probes_is_bounded() -> None:
    site = Queue()
    find_capacity(site.closed, site.open, Objective(50.0), steps=4, precision=0.0)
    assert len(site.open_probes) == 4


def test_errors_above_a_rate_cap_the_capacity_below_it() -> None:
    site = Queue(errors_above=100.0)  # e.g. a pool that refuses connections beyond 100/s
    found = find_capacity(site.closed, site.open, Objective(200.0), steps=12, precision=0.01)
    assert 95.0 <= found.throughput_rps <= 100.0
    failing = [p for p in found.probes if p.rate and p.rate > 100.0]
    assert failing and all(not p.met and "errors" in p.why for p in failing)
    assert MAX_ERROR_RATE < 50 / 1000  # the model's error share is above the limit


def test_an_objective_nothing_meets_gives_zero() -> None:
    site = Queue()
    found = find_capacity(site.closed, site.open, Objective(1.0), steps=5)
    assert found.throughput_rps == 0.0 and found.rate is None and found.best is None
    assert all(not p.met for p in found.probes)


def test_a_rate_not_reached_does_not_count() -> None:
    objective = Objective(1000.0)
    met, why = objective.met_by(result(80.0, 10.0), rate=100.0)
    assert not met and why == "reached 80/s of 100/s"
    assert objective.met_by(result(99.0, 10.0), rate=100.0) == (True, "p95 10 ms")
