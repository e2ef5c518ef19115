"""The load generator: ``run_load(config)`` sends the planned requests to the target and
returns a ``LoadResult``.

One process runs in the caller's thread, on its own event loop (uvloop when installed).
More are started with the 'spawn' method (safe in a threaded parent, same on every OS),
each with a share of the connections, of the rate and of ``max_requests``; they connect,
say they are ready, start together on the parent's word and send back their histograms
encoded, which the parent merges. Every run ends within warmup + duration + timeout + 5 s,
and no process outlives it."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection as Pipe
from multiprocessing.connection import wait
from typing import Any, TypeVar

from django_pareto.load.messages import Progress, WorkerReport, WorkerSpec
from django_pareto.load.model import LoadConfig, LoadError, LoadResult
from django_pareto.load.results import build_result
from django_pareto.load.runner import Runner

__all__ = ["Snapshot", "run_load"]

PROGRESS_S = 0.5
READY_LIMIT_S = 4.0  # to spawn the processes and connect; part of the 5 s of slack
HARD_SLACK_S = 5.0
_T = TypeVar("_T")


@dataclass(frozen=True)
class Snapshot:
    """Where a run is, for a live display: counts of measured requests so far."""

    elapsed: float  # seconds since the start, warmup included
    sent: int
    completed: int
    errors: int
    rps: float  # responses per second since the previous snapshot, warmup included
    warming_up: bool


def run_load(config: LoadConfig, progress: Callable[[Snapshot], None] | None = None) -> LoadResult:
    """Runs the load test; ``progress`` is called about twice a second (in this thread
    with one process: keep it cheap, its time is the generator's)."""
    _validate(config)
    deadline = time.monotonic() + config.warmup + config.duration + config.timeout + HARD_SLACK_S
    specs = split(config)
    if len(specs) == 1:
        reports, lost = [_run_here(specs[0], progress)], 0
    else:
        reports, lost = _run_processes(specs, progress, deadline)
    return build_result(config, reports, len(specs), lost)


def _validate(config: LoadConfig) -> None:
    problems = []
    if not config.requests:
        problems.append("no requests to send")
    if config.connections < 1:
        problems.append("connections must be at least 1")
    if config.duration <= 0 or config.timeout <= 0 or config.warmup < 0:
        problems.append("duration and timeout must be positive, warmup not negative")
    if config.max_requests is not None and config.max_requests < 1:
        problems.append("max_requests must be at least 1")
    if config.mode == "open" and not (config.rate and config.rate > 0):
        problems.append("an open loop needs a rate (requests per second)")
    if config.processes < 0:
        problems.append("processes must be 0 (one per core) or more")
    if problems:
        raise LoadError("; ".join(problems))


def split(config: LoadConfig) -> list[WorkerSpec]:
    """Shares per process: never more processes than connections (or requests)."""
    count = min(config.processes or os.cpu_count() or 1, config.connections)
    if config.max_requests is not None:
        count = min(count, config.max_requests)
    return [
        WorkerSpec(
            config=config,
            index=index,
            connections=_share(config.connections, count, index),
            rate=config.rate / count if config.rate else None,
            max_requests=(
                _share(config.max_requests, count, index) if config.max_requests else None
            ),
            seed=config.seed * 1_000_003 + index,
        )
        for index in range(count)
    ]


def _share(total: int, parts: int, index: int) -> int:
    base, extra = divmod(total, parts)
    return base + (index < extra)


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # the [load] extra is not installed: slower, still correct
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def _run_loop(work: Callable[[asyncio.AbstractEventLoop], _T]) -> _T:
    loop = new_event_loop()
    try:
        return work(loop)
    finally:
        loop.run_until_complete(_cancel_leftovers())
        loop.close()


async def _cancel_leftovers() -> None:
    current = asyncio.current_task()
    pending = [task for task in asyncio.all_tasks() if task is not current]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    await asyncio.sleep(0)  # aborted transports call connection_lost on the next turn


class _Rate:
    """Turns counters into snapshots, with the response rate since the previous one."""

    def __init__(self) -> None:
        self.start = self.last = time.monotonic()
        self.responses = 0

    def snapshot(self, progress: Progress) -> Snapshot:
        now = time.monotonic()
        elapsed = now - self.last
        rps = (progress.responses - self.responses) / elapsed if elapsed > 0 else 0.0
        self.last, self.responses = now, progress.responses
        return Snapshot(
            elapsed=now - self.start,
            sent=progress.sent,
            completed=progress.completed,
            errors=progress.errors,
            rps=rps,
            warming_up=progress.warming_up,
        )


def _run_here(spec: WorkerSpec, progress: Callable[[Snapshot], None] | None) -> WorkerReport:
    rate: _Rate | None = None

    def report_progress(counters: Progress) -> None:
        if progress is not None and rate is not None and time.monotonic() - rate.last >= PROGRESS_S:
            progress(rate.snapshot(counters))

    def work(loop: asyncio.AbstractEventLoop) -> WorkerReport:
        nonlocal rate
        # thread_time: this thread only, not the caller's other threads (a test server)
        runner = Runner(spec, report_progress, cpu_clock=time.thread_time)
        loop.run_until_complete(runner.prepare())
        rate = _Rate()
        return loop.run_until_complete(runner.run())

    return _outside_running_loop(lambda: _run_loop(work))


def _outside_running_loop(call: Callable[[], _T]) -> _T:
    """A loop cannot run inside a running one (a notebook, an async caller): use a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return call()
    results: list[_T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            results.append(call())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="pareto-load")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return results[0]


# -- several processes --


def _run_processes(
    specs: list[WorkerSpec], progress: Callable[[Snapshot], None] | None, deadline: float
) -> tuple[list[WorkerReport], int]:
    context = get_context("spawn")
    processes = []
    pipes: dict[Pipe, int] = {}
    try:
        for spec in specs:
            ours, theirs = context.Pipe()
            process = context.Process(
                target=worker_main,
                args=(spec, theirs, os.getpid()),
                name=f"pareto-load-{spec.index}",
                daemon=True,
            )
            process.start()
            theirs.close()
            processes.append(process)
            pipes[ours] = spec.index
        ready = _collect(pipes, "ready", time.monotonic() + READY_LIMIT_S)
        if not ready:
            raise LoadError(
                f"no generator process started within {READY_LIMIT_S:g} s; try processes=1"
            )
        for pipe in ready:
            pipe.send("go")
        reports = _collect_reports(list(ready), progress, deadline - 0.5)
        return list(reports.values()), len(specs) - len(reports)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(1.0)
            if process.is_alive():
                process.kill()
                process.join(1.0)
        for pipe in pipes:
            pipe.close()


def _collect(pipes: dict[Pipe, int], kind: str, until: float) -> dict[Pipe, Any]:
    """Messages of ``kind`` from each pipe until ``until``; a worker's error is raised."""
    received: dict[Pipe, Any] = {}
    while len(received) < len(pipes) and (left := until - time.monotonic()) > 0:
        for ready in wait([p for p in pipes if p not in received], timeout=left):
            assert isinstance(ready, Pipe)
            message = _receive(ready)
            if message is None:  # the process died: it will be counted as lost
                received[ready] = None
            elif message[0] == kind:
                received[ready] = message[1]
    return {pipe: value for pipe, value in received.items() if value is not None}


def _collect_reports(
    pipes: list[Pipe], progress: Callable[[Snapshot], None] | None, until: float
) -> dict[Pipe, WorkerReport]:
    reports: dict[Pipe, WorkerReport] = {}
    gone: set[Pipe] = set()
    latest: dict[Pipe, Progress] = {}
    rate = _Rate()
    next_progress = time.monotonic() + PROGRESS_S
    while len(reports) + len(gone) < len(pipes) and (now := time.monotonic()) < until:
        waiting = [p for p in pipes if p not in reports and p not in gone]
        for ready in wait(waiting, timeout=max(min(next_progress, until) - now, 0)):
            assert isinstance(ready, Pipe)
            message = _receive(ready)
            if message is None:
                gone.add(ready)
            elif message[0] == "progress":
                latest[ready] = message[1]
            elif message[0] == "report":
                reports[ready] = message[1]
        if progress is not None and time.monotonic() >= next_progress:
            next_progress += PROGRESS_S
            progress(rate.snapshot(_sum_progress(latest.values())))
    return reports


def _sum_progress(parts: Iterable[Progress]) -> Progress:
    parts = list(parts)
    return Progress(
        sent=sum(p.sent for p in parts),
        completed=sum(p.completed for p in parts),
        errors=sum(p.errors for p in parts),
        responses=sum(p.responses for p in parts),
        warming_up=any(p.warming_up for p in parts),
    )


def _receive(pipe: Pipe) -> tuple[str, Any] | None:
    try:
        message: tuple[str, Any] = pipe.recv()
    except (EOFError, OSError):
        return None
    if message[0] == "error":
        raise LoadError(f"a generator process failed:\n{message[1]}")
    return message


def worker_main(spec: WorkerSpec, pipe: Pipe, parent_pid: int) -> None:
    """A generator process: connect, report ready, wait for "go", run, report."""
    # Ctrl-C reaches the whole process group; the parent ends its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        report = _run_loop(lambda loop: _work_in_process(loop, spec, pipe, parent_pid))
        if report is not None:
            _send(pipe, ("report", report))
    except BaseException:
        _send(pipe, ("error", traceback.format_exc()))
    finally:
        pipe.close()


def _send(pipe: Pipe, message: tuple[str, Any]) -> bool:
    """False when the parent is gone (it was killed): the worker then just ends."""
    try:
        pipe.send(message)
    except OSError:
        return False
    return True


def _work_in_process(
    loop: asyncio.AbstractEventLoop, spec: WorkerSpec, pipe: Pipe, parent_pid: int
) -> WorkerReport | None:
    last_sent = 0.0

    def publish(counters: Progress) -> None:
        nonlocal last_sent
        if os.getppid() != parent_pid:  # orphaned: nobody will read the result
            runner.abort()
        elif time.monotonic() - last_sent >= PROGRESS_S / 2:
            last_sent = time.monotonic()
            if not _send(pipe, ("progress", counters)):
                runner.abort()

    runner = Runner(spec, publish, cpu_clock=time.process_time)
    loop.run_until_complete(runner.prepare())
    if not _send(pipe, ("ready", True)):
        return None
    try:
        if not pipe.poll(READY_LIMIT_S + 1) or pipe.recv() != "go":
            return None
    except (EOFError, OSError):
        return None
    return loop.run_until_complete(runner.run())
