"""The highest throughput a site sustains within a latency objective.

Throughput alone flatters a saturated site: past its capacity it still answers as fast as
it can while requests queue. So the capacity of one configuration is the highest *arrival
rate* (open loop) whose corrected p95 stays within the objective, without errors, with the
rate actually reached. A closed-loop probe first bounds it from above (what the site does
flat out); a bisection on the open-loop rate then narrows it down.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django_pareto.load.model import LoadResult

MAX_ERROR_RATE = 0.01  # more than 1% failed responses never counts as meeting the objective
MIN_REACHED = 0.95  # a rate the generator (or the site) could not start is not sustained


@dataclass(frozen=True)
class Objective:
    """The latency objective: p95 (corrected for coordinated omission) at most ``p95_ms``."""

    p95_ms: float = 200.0

    def met_by(self, result: LoadResult, rate: float | None) -> tuple[bool, str]:
        """Whether ``result`` meets it, and why not in a few words."""
        if not result.sent:
            return False, "nothing was sent"
        error_rate = result.errors / result.sent
        if error_rate > MAX_ERROR_RATE:
            return False, f"{error_rate:.1%} errors"
        if result.corrected.p95 > self.p95_ms:
            return False, f"p95 {result.corrected.p95:.0f} ms > {self.p95_ms:.0f} ms"
        if rate and result.throughput_rps < MIN_REACHED * rate:
            return False, f"reached {result.throughput_rps:.0f}/s of {rate:.0f}/s"
        return True, f"p95 {result.corrected.p95:.0f} ms"


@dataclass
class Probe:
    """One measurement of the search: the rate asked for (None: closed loop) and the result."""

    rate: float | None
    throughput_rps: float
    p95_ms: float
    errors: int
    sent: int
    met: bool
    why: str


@dataclass
class Capacity:
    """What the search found for one configuration."""

    throughput_rps: float  # of the highest probe that met the objective (0: none did)
    rate: float | None
    p95_ms: float
    closed_loop_rps: float  # flat out, whatever the latency
    probes: list[Probe] = field(default_factory=list)
    best: LoadResult | None = None


def find_capacity(
    measure_closed: Callable[[], LoadResult],
    measure_open: Callable[[float], LoadResult],
    objective: Objective,
    steps: int = 6,
    precision: float = 0.05,
) -> Capacity:
    """Bisect the open-loop rate between 0 and a little above the closed-loop throughput.

    At most ``steps`` open-loop probes; stops early when the bracket is narrower than
    ``precision`` of its top.
    """
    flat_out = measure_closed()
    found = Capacity(
        throughput_rps=0.0,
        rate=None,
        p95_ms=0.0,
        closed_loop_rps=flat_out.throughput_rps,
    )
    met, why = objective.met_by(flat_out, None)
    found.probes.append(_probe(None, flat_out, met, why))
    if flat_out.throughput_rps <= 0:
        return found
    # Flat out within the objective: the site is not saturated at that concurrency, but
    # an open loop just above it tells whether more arrivals would still be served.
    low, high = 0.0, flat_out.throughput_rps * 1.25
    rate = flat_out.throughput_rps * (0.9 if met else 0.7)
    for _ in range(steps):
        result = measure_open(rate)
        met, why = objective.met_by(result, rate)
        found.probes.append(_probe(rate, result, met, why))
        if met:
            low = rate
            if result.throughput_rps > found.throughput_rps:
                found.throughput_rps = result.throughput_rps
                found.rate = rate
                found.p95_ms = result.corrected.p95
                found.best = result
        else:
            high = rate
        if high - low <= precision * high:
            break
        rate = (low + high) / 2
    return found


def _probe(rate: float | None, result: LoadResult, met: bool, why: str) -> Probe:
    return Probe(
        rate=rate,
        throughput_rps=result.throughput_rps,
        p95_ms=result.corrected.p95,
        errors=result.errors,
        sent=result.sent,
        met=met,
        why=why,
    )
