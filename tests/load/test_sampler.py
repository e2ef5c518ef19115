"""The resource sampler attributes CPU to the right process groups and names the busy one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from django_pareto.load.bottleneck import MACHINE_SATURATED, SATURATED, name_bottleneck
from django_pareto.load.sampler import ComponentUsage, ResourceSampler, ResourceSamples

BURN = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass\n"
SLEEP = "import time; time.sleep({seconds})"
# A parent that only waits for a child that burns: the sampler must find the child.
PARENT = "import subprocess, sys\nsubprocess.run([sys.executable, '-c', {burn!r}], check=True)\n"

Spawn = Callable[[str], subprocess.Popen[bytes]]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    started: list[subprocess.Popen[bytes]] = []

    def start(code: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_busy_process_tree_uses_more_cpu_than_an_idle_one(spawn: Spawn) -> None:
    busy = spawn(PARENT.format(burn=BURN.format(seconds=1.5)))
    idle = spawn(SLEEP.format(seconds=1.5))
    sampler = ResourceSampler(
        {"app": [busy.pid], "generator": [idle.pid]},
        interval=0.2,
        parallelism={"app": 1, "generator": 1},
        services=False,
    )
    with sampler:
        busy.wait()
        idle.wait()
    result = sampler.result()
    app, generator = result.components["app"], result.components["generator"]

    assert set(result.components) == {"app", "generator"}  # services=False: nothing else
    assert app.samples >= 2 and generator.samples >= 2
    # The parent only waits: the CPU is its child's, found through the process tree.
    assert app.processes_max == 2
    assert app.cpu_mean > 5 * generator.cpu_mean + 10
    assert app.cpu_max >= app.cpu_mean
    assert app.rss_max_mib > 0
    assert app.utilization > generator.utilization
    assert result.samples >= 2
    assert len(result.per_core_mean) == result.cores
    assert result.machine_cpu_mean > 0
    assert not result.warnings

    bottleneck = name_bottleneck(result)
    # The busy component, unless the whole machine was busy (other jobs on a small CI box).
    expected = "machine" if result.machine_utilization > MACHINE_SATURATED else "app"
    if expected == "app" and app.utilization <= SATURATED:
        expected = "none"  # the child was starved of CPU: a relation we cannot control
    assert bottleneck.component == expected
    assert any(sentence.startswith("the app workers") for sentence in bottleneck.evidence)

    saturation = result.saturation()
    assert saturation["app"].usable_cores == 1
    assert saturation["app"].utilization == pytest.approx(app.cpu_mean / 100)
    assert saturation["machine"].usable_cores == result.cores


def test_json_round_trip(spawn: Spawn) -> None:
    proc = spawn(BURN.format(seconds=0.5))
    with ResourceSampler({"app": [proc.pid]}, interval=0.1, services=True) as sampler:
        proc.wait()
    result = sampler.result()
    data = json.loads(json.dumps(result.to_json()))
    assert ResourceSamples.from_json(data) == result
    assert data["saturation"]["app"]["utilization"] == pytest.approx(
        result.saturation()["app"].utilization
    )
    assert json.loads(json.dumps(name_bottleneck(result).to_json()))["component"]


def test_pids_may_be_a_callable_and_vanished_pids_are_skipped(spawn: Spawn) -> None:
    proc = spawn(SLEEP.format(seconds=0.3))
    gone = spawn("pass")
    gone.wait()
    sampler = ResourceSampler(lambda: {"app": [proc.pid, gone.pid]}, interval=0.1, services=False)
    with sampler:
        proc.wait()
    result = sampler.result()
    assert result.components["app"].processes_max == 1


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        ResourceSampler({}, interval=0)


# -- name_bottleneck on plain data: every verdict


def usage(component: str, cpu: float, parallelism: int, cores: int = 2) -> ComponentUsage:
    return ComponentUsage(component, cpu, cpu * 1.2, cores, parallelism, 100.0, 120.0, 3, 10)


def samples(machine_cpu: float, *components: ComponentUsage) -> ResourceSamples:
    return ResourceSamples(
        interval_s=0.5,
        duration_s=5.0,
        cores=2,
        samples=10,
        components={c.component: c for c in components},
        machine_cpu_mean=machine_cpu,
        machine_cpu_max=machine_cpu,
        per_core_mean=[machine_cpu / 2, machine_cpu / 2],
    )


def test_saturated_component_is_named() -> None:
    result = samples(
        150.0,
        usage("app", 95.0, parallelism=4),  # 4 workers on 2 cores: 47.5%
        usage("redis", 85.0, parallelism=1),  # single-threaded: 85%
        usage("postgresql", 30.0, parallelism=2),
    )
    bottleneck = name_bottleneck(result)
    assert bottleneck.component == "redis"
    assert bottleneck.utilization == pytest.approx(0.85)
    assert "single-threaded" in bottleneck.verdict
    assert bottleneck.evidence[0].startswith("Redis: 85% CPU")
    assert any("shared server" in sentence for sentence in bottleneck.evidence)


def test_busy_machine_wins_over_components() -> None:
    result = samples(
        190.0, usage("app", 150.0, parallelism=2), usage("generator", 40.0, parallelism=1)
    )
    bottleneck = name_bottleneck(result)
    assert bottleneck.component == "machine"
    assert bottleneck.utilization == pytest.approx(0.95)
    assert "taskset" in bottleneck.verdict
    assert "the load generator took 40%" in bottleneck.verdict


def test_saturated_generator_says_the_measurement_is_limited() -> None:
    result = samples(
        120.0, usage("app", 30.0, parallelism=2), usage("generator", 90.0, parallelism=1)
    )
    bottleneck = name_bottleneck(result)
    assert bottleneck.component == "generator"
    assert "beyond this measurement" in bottleneck.verdict


def test_nothing_saturated_blames_the_latency_objective() -> None:
    result = samples(60.0, usage("app", 50.0, parallelism=2))
    load = {
        "throughput_rps": 420.0,
        "corrected": {"count": 4200, "p50": 3.0, "p99": 41.5},
        "server_timing": {"responses": 4200, "db_ms": 6.0, "app_ms": 2.0, "queue_ms": 9.0},
    }
    bottleneck = name_bottleneck(result, load)
    assert bottleneck.component == "none"
    assert bottleneck.utilization == pytest.approx(0.25)
    assert "latency objective" in bottleneck.verdict
    assert "75% of the server's time per request was spent in the database" in bottleneck.verdict
    assert "throughput 420 requests/s, latency p50 3.0 ms, p99 41.5 ms" in bottleneck.evidence
    assert any("6.0 ms in the database" in sentence for sentence in bottleneck.evidence)


def test_nothing_sampled() -> None:
    bottleneck = name_bottleneck(samples(10.0))
    assert bottleneck.component == "none"
    assert "no component was sampled" in bottleneck.verdict
