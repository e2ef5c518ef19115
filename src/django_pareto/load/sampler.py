"""Where the CPU and memory go during a load test, per component.

``ResourceSampler`` runs a background thread that, every ``interval``, reads with psutil the
CPU time and resident memory of process groups:

- given ones ("app": gunicorn's master and workers, "nginx", "generator": the load
  generator's processes), each root pid with its descendants re-discovered every tick, so
  a worker gunicorn replaces is still counted;
- services found by name: "postgresql" (every postgres/postmaster process on the machine,
  the server being shared: other databases' activity counts too) and "redis"
  (redis-server);
- the machine: each core's busy share.

CPU is measured as CPU seconds used per wall second, in percent of one core (100% = one
core busy the whole time), from the processes' own counters: exact however short-lived the
interval, unlike the "since the last call" figures psutil.cpu_percent keeps globally.

``bottleneck.name_bottleneck`` turns the result into a verdict.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self

import psutil

_MIB = 1024 * 1024

# Services found by process name (psutil's name(): the kernel's comm, 15 characters).
SERVICES: dict[str, tuple[str, ...]] = {
    "postgresql": ("postgres", "postmaster"),
    "redis": ("redis-server",),
}

# How many cores a component can keep busy at once, when the caller does not say: Redis
# executes commands on one thread; PostgreSQL runs a process per connection (all cores);
# the others default to all cores unless their worker count is given.
DEFAULT_PARALLELISM: dict[str, int] = {"redis": 1}

PidSource = Mapping[str, Iterable[int]] | Callable[[], Mapping[str, Iterable[int]]]


class ServerLike(Protocol):
    """What the sampler needs of a server (``serve.Server`` has it)."""

    def pids(self) -> Mapping[str, list[int]]: ...

    def parallelism(self) -> Mapping[str, int]: ...


@dataclass
class ComponentUsage:
    """One component's CPU and memory over the sampling window."""

    component: str
    cpu_mean: float  # percent of one core (100 = one core busy all the time)
    cpu_max: float  # the busiest interval
    cores: int  # the machine's cores: what the OS lets it run on
    parallelism: int  # processes/threads that can run at once (workers; 1 for Redis)
    rss_mean_mib: float  # resident memory, summed over its processes
    rss_max_mib: float
    processes_max: int
    samples: int

    @property
    def usable_cores(self) -> int:
        return max(1, min(self.parallelism, self.cores))

    @property
    def utilization(self) -> float:
        """Mean CPU as a share of the cores it can use (1.0 = all of them busy)."""
        return self.cpu_mean / (100.0 * self.usable_cores)


@dataclass
class Saturation:
    component: str
    cpu_mean: float  # percent of one core
    usable_cores: int
    utilization: float  # cpu_mean / (100 x usable_cores)


@dataclass
class ResourceSamples:
    """What ``ResourceSampler`` measured. RSS sums count shared pages once per process
    (PostgreSQL's shared buffers, the pages gunicorn's workers share with their master):
    an upper bound of the memory used."""

    interval_s: float
    duration_s: float
    cores: int
    samples: int
    components: dict[str, ComponentUsage] = field(default_factory=dict)
    machine_cpu_mean: float = 0.0  # percent of one core, summed over cores (<= 100 x cores)
    machine_cpu_max: float = 0.0
    per_core_mean: list[float] = field(default_factory=list)  # percent busy, per core
    warnings: list[str] = field(default_factory=list)

    @property
    def machine_utilization(self) -> float:
        return self.machine_cpu_mean / (100.0 * self.cores) if self.cores else 0.0

    def saturation(self) -> dict[str, Saturation]:
        """Per component (and "machine"), the share of the cores it can use that it used:
        app min(workers, cores), nginx min(nginx workers, cores), PostgreSQL all cores,
        Redis 1."""
        result = {
            name: Saturation(name, usage.cpu_mean, usage.usable_cores, usage.utilization)
            for name, usage in self.components.items()
        }
        result["machine"] = Saturation(
            "machine", self.machine_cpu_mean, self.cores, self.machine_utilization
        )
        return result

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["machine_utilization"] = self.machine_utilization
        data["saturation"] = {name: asdict(s) for name, s in self.saturation().items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ResourceSamples:
        return cls(
            interval_s=data["interval_s"],
            duration_s=data["duration_s"],
            cores=data["cores"],
            samples=data["samples"],
            components={
                name: ComponentUsage(**usage) for name, usage in data["components"].items()
            },
            machine_cpu_mean=data["machine_cpu_mean"],
            machine_cpu_max=data["machine_cpu_max"],
            per_core_mean=list(data["per_core_mean"]),
            warnings=list(data.get("warnings", [])),
        )


@dataclass
class _Accumulator:
    cpu_sum: float = 0.0
    cpu_max: float = 0.0
    rss_sum: float = 0.0
    rss_max: float = 0.0
    processes_max: int = 0
    samples: int = 0

    def add(self, cpu: float, rss: float, processes: int) -> None:
        self.cpu_sum += cpu
        self.cpu_max = max(self.cpu_max, cpu)
        self.rss_sum += rss
        self.rss_max = max(self.rss_max, rss)
        self.processes_max = max(self.processes_max, processes)
        self.samples += 1


def _total(times: Any) -> float:
    """A core's total time; guest time is already counted in user time on Linux."""
    guest = getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
    return float(sum(times)) - guest


_Key = tuple[int, float]  # (pid, create_time): a reused pid is another process


class ResourceSampler:
    """Samples components' CPU and RSS in a background thread; a context manager.

    ``pids``: component -> root pids (their descendants are found every tick), or a
    callable returning that (e.g. ``server.pids``). ``parallelism``: component -> how many
    processes can run at once (e.g. ``server.parallelism()``: app workers, nginx workers).
    ``services``: also sample PostgreSQL and Redis found by process name.
    """

    def __init__(
        self,
        pids: PidSource | None = None,
        *,
        interval: float = 0.5,
        parallelism: Mapping[str, int] | None = None,
        services: bool = True,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        self._pids: PidSource = pids if pids is not None else {}
        self.cores = psutil.cpu_count(logical=True) or 1
        self._parallelism = {**DEFAULT_PARALLELISM, **(parallelism or {})}
        self._services = services
        self._accumulators: dict[str, _Accumulator] = {}
        self._machine = _Accumulator()
        self._per_core_sum: list[float] = [0.0] * self.cores
        self._procs: dict[_Key, psutil.Process] = {}
        self._last_cpu: dict[_Key, float] = {}
        self._last_wall = 0.0
        self._last_epoch = 0.0
        self._last_core_times: list[Any] = []
        self._started = 0.0
        self._stopped = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.error: BaseException | None = None  # what stopped the thread, if anything

    @classmethod
    def for_server(
        cls,
        server: ServerLike,
        *,
        generator_pids: Iterable[int] = (),
        generator_processes: int | None = None,
        interval: float = 0.5,
        services: bool = True,
    ) -> ResourceSampler:
        """Sample a ``serve.Server``'s app (and nginx), and the generator's processes."""
        generator = list(generator_pids)

        def pids() -> dict[str, list[int]]:
            found: dict[str, list[int]] = dict(server.pids())
            if generator:
                found["generator"] = generator
            return found

        parallelism = dict(server.parallelism())
        if generator:
            parallelism["generator"] = generator_processes or len(generator)
        return cls(pids, interval=interval, parallelism=parallelism, services=services)

    # -- life cycle

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("this sampler is already started")
        self._started = time.monotonic()
        self._tick()  # the baseline: counters now, no sample yet
        self._thread = threading.Thread(target=self._run, name="pareto-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> ResourceSamples:
        """Stop sampling (one last sample closes the window) and return the result."""
        if self._thread is not None and self._thread.is_alive():
            self._stop.set()
            self._thread.join()
            # A last tick covers the time since the previous one, unless it is too short
            # to mean anything (and there are samples already).
            if self._machine.samples == 0 or time.monotonic() - self._last_wall > (
                self.interval / 4
            ):
                self._tick()
            self._stopped = time.monotonic()
        return self.result()

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                self._tick()
        except Exception as exc:
            # The load test goes on; the result says its figures stop early, and why.
            self.error = exc

    # -- measuring

    def _component_processes(self) -> dict[str, dict[_Key, psutil.Process]]:
        roots = self._pids() if callable(self._pids) else self._pids
        claimed: set[int] = set()
        found: dict[str, dict[_Key, psutil.Process]] = {}
        for component, pids in roots.items():
            members: dict[_Key, psutil.Process] = {}
            for pid in pids:
                try:
                    root = self._process(pid)
                    tree = [root, *root.children(recursive=True)]
                except psutil.Error:
                    continue  # gone since: its last interval is lost, a few ms at most
                for proc in tree:
                    if proc.pid in claimed:
                        continue
                    try:
                        key = (proc.pid, proc.create_time())
                    except psutil.Error:
                        continue
                    claimed.add(proc.pid)
                    members[key] = self._procs.setdefault(key, proc)
            found[component] = members
        if self._services:
            by_name = {name: service for service, names in SERVICES.items() for name in names}
            services: dict[str, dict[_Key, psutil.Process]] = {s: {} for s in SERVICES}
            for proc in psutil.process_iter(["name", "create_time"]):
                service = by_name.get(proc.info.get("name") or "")
                if service is None or proc.pid in claimed:
                    continue
                key = (proc.pid, proc.info["create_time"])
                services[service][key] = self._procs.setdefault(key, proc)
            found.update(services)
        return found

    def _process(self, pid: int) -> psutil.Process:
        proc = psutil.Process(pid)
        return self._procs.setdefault((pid, proc.create_time()), proc)

    def _tick(self) -> None:
        with self._lock:
            now = time.monotonic()
            epoch = time.time()
            baseline = self._last_wall == 0.0
            wall = now - self._last_wall
            components = self._component_processes()
            cpu_now: dict[_Key, float] = {}
            for name, members in components.items():
                cpu_seconds = 0.0
                rss = 0
                alive = 0
                for key, proc in members.items():
                    try:
                        with proc.oneshot():
                            times = proc.cpu_times()
                            resident = proc.memory_info().rss
                    except psutil.Error:
                        continue
                    used = times.user + times.system
                    cpu_now[key] = used
                    alive += 1
                    rss += resident
                    if key in self._last_cpu:
                        cpu_seconds += max(0.0, used - self._last_cpu[key])
                    elif not baseline and key[1] >= self._last_epoch:
                        cpu_seconds += used  # born during this interval: all of it counts
                if not baseline and wall > 0:
                    acc = self._accumulators.setdefault(name, _Accumulator())
                    acc.add(100.0 * cpu_seconds / wall, rss / _MIB, alive)
            # Forget processes that are gone, so the caches do not grow over a long run.
            self._last_cpu = cpu_now
            self._procs = {key: self._procs[key] for key in cpu_now if key in self._procs}

            core_times = psutil.cpu_times(percpu=True)
            if not baseline and len(core_times) == len(self._last_core_times):
                busy_total = 0.0
                for index, (before, after) in enumerate(
                    zip(self._last_core_times, core_times, strict=True)
                ):
                    total = _total(after) - _total(before)
                    idle = (after.idle - before.idle) + (
                        getattr(after, "iowait", 0.0) - getattr(before, "iowait", 0.0)
                    )
                    busy = 100.0 * (total - idle) / total if total > 0 else 0.0
                    busy = min(100.0, max(0.0, busy))
                    if index < len(self._per_core_sum):
                        self._per_core_sum[index] += busy
                    busy_total += busy
                self._machine.add(busy_total, 0.0, 0)
            self._last_core_times = list(core_times)
            self._last_wall = now
            self._last_epoch = epoch

    def result(self) -> ResourceSamples:
        with self._lock:
            end = self._stopped or time.monotonic()
            components = {
                name: ComponentUsage(
                    component=name,
                    cpu_mean=acc.cpu_sum / acc.samples if acc.samples else 0.0,
                    cpu_max=acc.cpu_max,
                    cores=self.cores,
                    parallelism=self._parallelism.get(name, self.cores),
                    rss_mean_mib=acc.rss_sum / acc.samples if acc.samples else 0.0,
                    rss_max_mib=acc.rss_max,
                    processes_max=acc.processes_max,
                    samples=acc.samples,
                )
                for name, acc in self._accumulators.items()
            }
            n = self._machine.samples
            return ResourceSamples(
                interval_s=self.interval,
                duration_s=max(0.0, end - self._started) if self._started else 0.0,
                cores=self.cores,
                samples=n,
                components=components,
                machine_cpu_mean=self._machine.cpu_sum / n if n else 0.0,
                machine_cpu_max=self._machine.cpu_max,
                per_core_mean=[total / n if n else 0.0 for total in self._per_core_sum],
                warnings=(
                    [f"sampling stopped early: {type(self.error).__name__}: {self.error}"]
                    if self.error
                    else []
                ),
            )
