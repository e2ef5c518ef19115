"""Which component limited throughput, from what ``sampler.ResourceSampler`` measured.

``name_bottleneck`` turns the samples into a verdict: the whole machine when its CPU is
nearly all busy, else the component using the largest share of the cores it can use when
that share is high, else nothing; with the figures that say so, as sentences.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from django_pareto.load.sampler import ComponentUsage, ResourceSamples

if TYPE_CHECKING:
    from django_pareto.load.model import LoadResult

# Above this share of all cores busy, every process waits for a core: the machine as a
# whole is the limit, and no component's own figure can be trusted to name one (the load
# generator, on the same machine, takes its share too).
MACHINE_SATURATED = 0.90
# A component busier than this queues work: an M/M/1 server at 70% utilization already
# makes requests wait 2.3x their service time, and latency climbs steeply after. Below it
# the component had cores to spare, so it is not what limited throughput.
SATURATED = 0.70

LABELS: dict[str, str] = {
    "app": "the app workers (gunicorn)",
    "nginx": "nginx",
    "postgresql": "PostgreSQL",
    "redis": "Redis",
    "generator": "the load generator",
    "machine": "the machine's CPU",
}


@dataclass
class Bottleneck:
    """The component that limited throughput, how busy it was, and the figures saying so."""

    component: str  # "app", "nginx", "postgresql", "redis", "generator", "machine", "none"
    utilization: float  # of what it can use; for "none", the busiest component's
    verdict: str
    evidence: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _why_cores(usage: ComponentUsage) -> str:
    cores = f"{usage.cores} core{'s' if usage.cores != 1 else ''}"
    if usage.component == "redis":
        return "single-threaded"
    if usage.component == "postgresql":
        return f"a process per connection, all {cores}"
    if usage.component == "app":
        return f"{usage.parallelism} worker{'s' if usage.parallelism != 1 else ''} on {cores}"
    if usage.component in ("nginx", "generator"):
        return f"{usage.parallelism} process{'es' if usage.parallelism != 1 else ''} on {cores}"
    return f"{usage.parallelism} at once on {cores}"


def _component_sentence(usage: ComponentUsage) -> str:
    label = LABELS.get(usage.component, usage.component)
    usable = usage.usable_cores
    return (
        f"{label}: {usage.cpu_mean:.0f}% CPU on average (max {usage.cpu_max:.0f}%; 100% = one "
        f"core) = {usage.utilization:.0%} of the {usable} core{'s' if usable != 1 else ''} "
        f"it can use ({_why_cores(usage)}); memory {usage.rss_mean_mib:.0f} MiB resident "
        f"(max {usage.rss_max_mib:.0f})"
    )


def _load_facts(load: LoadResult | Mapping[str, Any] | None) -> tuple[list[str], float | None]:
    """Sentences about the load run (throughput, latency, where the time went) and the
    share of the server's time spent in the database, if known."""
    if load is None:
        return [], None
    data: Mapping[str, Any] = load if isinstance(load, Mapping) else load.to_json()
    facts: list[str] = []
    throughput = data.get("throughput_rps")
    corrected = data.get("corrected") or {}
    if throughput is not None:
        sentence = f"throughput {float(throughput):.0f} requests/s"
        if corrected.get("count"):
            sentence += (
                f", latency p50 {corrected.get('p50', 0.0):.1f} ms, "
                f"p99 {corrected.get('p99', 0.0):.1f} ms"
            )
        facts.append(sentence)
    timing = data.get("server_timing") or {}
    db_share = None
    if timing.get("responses"):
        db, app, queue = (
            timing.get("db_ms", 0.0),
            timing.get("app_ms", 0.0),
            timing.get("queue_ms", 0.0),
        )
        facts.append(
            f"per response: {db:.1f} ms in the database, {app:.1f} ms in the app, "
            f"{queue:.1f} ms waiting outside the app (queueing for a worker, network)"
        )
        if db + app > 0:
            db_share = db / (db + app)
    return facts, db_share


def name_bottleneck(
    samples: ResourceSamples, load: LoadResult | Mapping[str, Any] | None = None
) -> Bottleneck:
    """Which component limited throughput during ``samples``: the whole machine if its CPU
    was nearly all busy, else the component using the largest share of the cores it can
    use if that share is high, else none (the load or the latency objective stopped short
    of any resource's limit). ``load``: the run's LoadResult (or its JSON) for evidence."""
    saturation = sorted(
        samples.components.values(), key=lambda usage: usage.utilization, reverse=True
    )
    evidence = [_component_sentence(usage) for usage in saturation]
    per_core = ", ".join(f"{busy:.0f}%" for busy in samples.per_core_mean)
    machine = samples.machine_utilization
    evidence.append(
        f"the machine: {machine:.0%} of its {samples.cores} cores busy on average "
        f"(per core: {per_core or 'n/a'})"
    )
    if "postgresql" in samples.components:
        evidence.append(
            "PostgreSQL's figures count every postgres process on this machine (a shared "
            "server: other databases' work is included)"
        )
    facts, db_share = _load_facts(load)
    evidence.extend(facts)

    if machine > MACHINE_SATURATED:
        generator = samples.components.get("generator")
        competes = (
            f"the load generator took {generator.cpu_mean:.0f}% of a core of them"
            if generator
            else "a load generator on this machine takes its share too"
        )
        return Bottleneck(
            "machine",
            machine,
            f"the machine's CPU: {machine:.0%} of its {samples.cores} cores busy, so every "
            f"process waited for a core ({competes}); pin the generator to its own cores "
            "with taskset, or run it on another machine, before blaming a component",
            evidence,
        )
    top = saturation[0] if saturation else None
    if top is not None and top.utilization > SATURATED:
        label = LABELS.get(top.component, top.component)
        if top.component == "generator":
            verdict = (
                f"{label}: {top.utilization:.0%} of the cores it can use; it could not send "
                "faster, so the site's own limit lies beyond this measurement (give the "
                "generator more processes or cores)"
            )
        else:
            verdict = (
                f"{label}: {top.utilization:.0%} of the {top.usable_cores} "
                f"core{'s' if top.usable_cores != 1 else ''} it can use "
                f"({_why_cores(top)})"
            )
        return Bottleneck(top.component, top.utilization, verdict, evidence)

    busiest = (
        f"the busiest, {LABELS.get(top.component, top.component)}, used {top.utilization:.0%}"
        if top
        else "no component was sampled"
    )
    waiting = (
        f"; {db_share:.0%} of the server's time per request was spent in the database, "
        "waiting rather than computing"
        if db_share is not None
        else ""
    )
    return Bottleneck(
        "none",
        top.utilization if top else 0.0,
        f"none saturated ({busiest} of what it can use; threshold {SATURATED:.0%}): the "
        f"latency objective limited throughput (queueing in the app workers){waiting}",
        evidence,
    )
