"""``pareto scale``: the site's capacity at each worker count, the scalability curve through
those points, and the component that saturates.

For each worker count the site is started under gunicorn (``serve.Server``), its capacity
found within the latency objective (``search.find_capacity``) while the app, nginx,
PostgreSQL, Redis and the generator are sampled (``sampler``); the Universal Scalability Law
is fitted to (workers, capacity) (``usl``), and the bottleneck named from the samples of
the highest worker count's best probe.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django_pareto.load.bottleneck import Bottleneck, name_bottleneck
from django_pareto.load.engine import run_load
from django_pareto.load.model import LoadConfig, LoadResult, PlannedRequest, Target, parse_target
from django_pareto.load.sampler import ResourceSampler, ResourceSamples
from django_pareto.load.search import Capacity, Objective, find_capacity
from django_pareto.load.serve import Server, WorkerClass
from django_pareto.load.usl import UslError, UslFit, fit_usl

CURVE_POINTS = 40  # points of the fitted curve kept for charts


@dataclass(frozen=True)
class ScaleSettings:
    """How each worker count is measured."""

    workers: Sequence[int] = (1, 2, 4)
    objective: Objective = field(default_factory=Objective)
    probe_seconds: float = 5.0  # measured per probe (after its warmup)
    warmup_seconds: float = 1.0
    steps: int = 5  # open-loop probes per worker count, after the closed-loop one
    connections_per_worker: int = 4  # closed loop: enough users to keep every worker busy
    max_connections: int = 64  # open loop: the client's pool, whatever the rate
    processes: int = 1  # generator processes: on a small machine it competes for the cores
    nginx: bool = False
    worker_class: WorkerClass = "sync"


@dataclass
class ScalePoint:
    workers: int
    capacity: Capacity
    resources: ResourceSamples | None  # sampled during the best probe
    bottleneck: Bottleneck | None

    def to_json(self) -> dict[str, Any]:
        best = self.capacity.best
        return {
            "workers": self.workers,
            "throughput_rps": self.capacity.throughput_rps,
            "rate": self.capacity.rate,
            "p95_ms": self.capacity.p95_ms,
            "closed_loop_rps": self.capacity.closed_loop_rps,
            "probes": [asdict(p) for p in self.capacity.probes],
            "server_timing": asdict(best.server_timing) if best and best.server_timing else None,
            "resources": self.resources.to_json() if self.resources else None,
            "bottleneck": self.bottleneck.to_json() if self.bottleneck else None,
        }


@dataclass
class ScaleResult:
    settings: ScaleSettings
    points: list[ScalePoint]
    usl: UslFit | None
    usl_error: str | None
    bottleneck: Bottleneck | None  # at the highest worker count

    def measured(self) -> list[tuple[float, float]]:
        return [(float(p.workers), p.capacity.throughput_rps) for p in self.points]

    def to_json(self) -> dict[str, Any]:
        usl = None
        if self.usl is not None:
            fit = self.usl
            top = max(self.usl.max_n, fit.peak_n or 0.0) * 2
            step = max(top, 2.0) / CURVE_POINTS
            curve = [[1 + i * step, fit.predict(1 + i * step)] for i in range(CURVE_POINTS + 1)]
            usl = {
                **fit.to_json(),
                "lambda": fit.lambda_,
                "peak_workers": fit.peak_n,
                "curve": curve,
            }
        return {
            "kind": "scale",
            "objective": {"p95_ms": self.settings.objective.p95_ms},
            "settings": {
                "workers": list(self.settings.workers),
                "probe_seconds": self.settings.probe_seconds,
                "steps": self.settings.steps,
                "nginx": self.settings.nginx,
                "processes": self.settings.processes,
            },
            "points": [p.to_json() for p in self.points],
            "usl": usl,
            "usl_error": self.usl_error,
            "bottleneck": self.bottleneck.to_json() if self.bottleneck else None,
        }


PlanFor = Callable[[Target], Sequence[PlannedRequest]]


def measure_workers(
    server: Server,
    plan_for: PlanFor,
    settings: ScaleSettings,
    on_probe: Callable[[str], None] = lambda _: None,
) -> ScalePoint:
    """The capacity of a started server, and what its components used meanwhile."""
    target = parse_target(server.url)
    plan = plan_for(target)
    sampled: dict[int, ResourceSamples] = {}

    def config(**options: Any) -> LoadConfig:
        return LoadConfig(
            target=target,
            requests=plan,
            duration=settings.probe_seconds,
            warmup=settings.warmup_seconds,
            processes=settings.processes,
            **options,
        )

    def measure(cfg: LoadConfig, label: str) -> LoadResult:
        sampler = ResourceSampler.for_server(server, generator_pids=[os.getpid()])
        with sampler:
            result = run_load(cfg)
        sampled[id(result)] = sampler.result()
        server.check_alive()
        on_probe(
            f"{server.workers} workers, {label}: {result.throughput_rps:.0f}/s, "
            f"p95 {result.corrected.p95:.0f} ms, {result.errors} errors"
        )
        return result

    closed_users = min(settings.max_connections, settings.connections_per_worker * server.workers)
    capacity = find_capacity(
        lambda: measure(config(mode="closed", connections=closed_users), "flat out"),
        lambda rate: measure(
            config(mode="open", rate=rate, connections=settings.max_connections),
            f"{rate:.0f}/s offered",
        ),
        settings.objective,
        steps=settings.steps,
    )
    samples = sampled.get(id(capacity.best)) if capacity.best is not None else None
    bottleneck = name_bottleneck(samples, capacity.best) if samples is not None else None
    return ScalePoint(server.workers, capacity, samples, bottleneck)


def run_scale(
    site_dir: str | Path,
    plan_for: PlanFor,
    settings: ScaleSettings,
    *,
    settings_module: str | None = None,
    env: Mapping[str, str] | None = None,
    on_probe: Callable[[str], None] = lambda _: None,
) -> ScaleResult:
    """Measure each worker count of ``settings.workers`` in turn (one server at a time)."""
    points = []
    for workers in settings.workers:
        server = Server(
            site_dir,
            settings_module=settings_module,
            workers=workers,
            worker_class=settings.worker_class,
            nginx=settings.nginx,
            env=env,
        )
        with server:
            points.append(measure_workers(server, plan_for, settings, on_probe))
    usl: UslFit | None = None
    usl_error: str | None = None
    fitted = [(float(p.workers), p.capacity.throughput_rps) for p in points]
    try:
        usl = fit_usl([pt for pt in fitted if pt[1] > 0])
    except UslError as exc:
        usl_error = str(exc)
    top = max(points, key=lambda p: p.workers) if points else None
    return ScaleResult(settings, points, usl, usl_error, top.bottleneck if top else None)
