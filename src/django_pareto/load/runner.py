"""One generator process's share of a load test, on its own event loop.

Everything per request is a callback (no task, future or timer per request): a connection
reports a complete response, the runner records it and, in a closed loop, writes the next
request on the same connection at once. In an open loop a ticker starts requests at their
intended times; a start finds an idle connection or waits in ``queue`` for one, and that
wait is part of its corrected latency. A sweeper every 100 ms fails timed-out requests,
notices the end of the run and reports progress."""

from __future__ import annotations

import asyncio
import random
import sys
from collections import deque
from collections.abc import Callable
from time import perf_counter_ns

from django_pareto.load import histograms
from django_pareto.load.connection import Connection
from django_pareto.load.messages import EndpointReport, Progress, WorkerReport, WorkerSpec
from django_pareto.load.prepared import STATUS_LIMIT, EndpointStats, Planned, prepare_plan

SWEEP_S = 0.1
TIMER_SLACK_NS = 1_000_000  # libuv timers have millisecond resolution: a start due within
# it goes now rather than up to a millisecond late (its corrected latency then starts when
# it was written, never before)
PRECONNECT_S = 1.0
MAX_TIMEOUT_S = 3000.0  # latencies must fit the histograms (1 hour)
FIRST_BACKOFF_S = 0.01
MAX_BACKOFF_S = 1.0


class Runner:
    def __init__(
        self,
        spec: WorkerSpec,
        on_progress: Callable[[Progress], None] | None = None,
        cpu_clock: Callable[[], float] | None = None,
    ) -> None:
        config = spec.config
        self.host: str = config.target.host
        self.port = config.target.port
        self.wanted = spec.connections
        self.timeout_s = min(config.timeout, MAX_TIMEOUT_S)
        self.timeout_ns = int(self.timeout_s * 1e9)
        self.warmup_ns = int(config.warmup * 1e9)
        self.duration_ns = int(config.duration * 1e9)
        self.on_progress = on_progress
        self.cpu_clock = cpu_clock
        self.open_loop = config.mode == "open"
        self.remaining = spec.max_requests if spec.max_requests is not None else sys.maxsize
        self.plan, self.endpoints, self.connection_class = prepare_plan(config)
        self.plan_len = len(self.plan)

        rate = spec.rate or 0.0
        rng = random.Random(spec.seed)
        self.gap_ns: Callable[[], float] = (
            (lambda: rng.expovariate(rate) * 1e9)
            if config.arrival == "poisson"
            else (lambda: 1e9 / rate)
        )
        self.next: Callable[[Connection], None] = (
            self._dispatch_open if self.open_loop else self._send_closed
        )

        self.statuses = [0] * STATUS_LIMIT
        self.failures: dict[str, int] = {}
        self.corrected = histograms.Recorder() if self.open_loop else None
        self.corrected_counts = self.corrected.counts if self.corrected else []
        self.pool: set[Connection] = set()
        self.idle: set[Connection] = set()  # open loop: connected, nothing in flight
        self.queue: deque[int] = deque()  # open loop: intended starts waiting for a connection
        self.tasks: set[asyncio.Task[None]] = set()
        self.opening = 0
        self.inflight = 0
        self.connect_failures = 0
        self.cursor = 0
        self.sent = 0
        self.written = 0
        self.written_at_stop = 0
        self.responses = 0
        self.last_response_ns = 0
        self.running = self.stopping = self.finished = False
        self.go_ns = self.measure_ns = self.stop_ns = self.stop_at_ns = 0
        self.drain_deadline_ns = 0
        self.cpu_start = self.cpu_at_stop = 0.0
        self.next_start_ns = 0.0
        self.tick_handle: asyncio.TimerHandle | None = None
        self.sweep_handle: asyncio.TimerHandle | None = None

    # -- the phases: prepare (connect), run, report --

    async def prepare(self) -> None:
        """Opens the connections before the clock starts (a handshake is not a request)."""
        self.loop = asyncio.get_running_loop()
        limit = min(PRECONNECT_S, self.timeout_s)
        # The open loop connects on demand (below, _wants_connections): one connection
        # here finds the address. An idle connection is not free for every server: a
        # gunicorn sync worker that accepts one blocks on it until a request comes.
        wanted = 1 if self.open_loop else self.wanted
        opened = await asyncio.gather(*(self._connect(limit) for _ in range(wanted)))
        self.pool.update(conn for conn in opened if conn is not None and not conn.retired)
        for conn in self.pool:
            # Reconnects go to the address that answered: no name lookup per reconnect.
            assert conn.transport is not None
            peer = conn.transport.get_extra_info("peername")
            if peer:
                self.host = peer[0]
            break

    async def run(self) -> WorkerReport:
        loop = self.loop
        self.finished_future: asyncio.Future[None] = loop.create_future()
        self.cpu_start = self._cpu()
        self.go_ns = now = perf_counter_ns()
        self.measure_ns = now + self.warmup_ns
        self.stop_ns = self.measure_ns + self.duration_ns
        self.next_start_ns = float(now)
        self.running = True
        self.sweep_handle = loop.call_later(SWEEP_S, self._sweep)
        for _ in range(0 if self.open_loop else self.wanted - len(self.pool)):
            self._open_soon(0.0)
        if self.open_loop:
            self.idle.update(self.pool)
            self._tick()
        else:
            for conn in list(self.pool):
                self._send_closed(conn)
        # The sweeper ends the run by then; this bound holds even if a callback is stuck.
        limit = (self.stop_ns - now) / 1e9 + self.timeout_s + 2 * SWEEP_S + 0.5
        await asyncio.wait([self.finished_future], timeout=limit)
        self._finalize()
        wall_s = (perf_counter_ns() - now) / 1e9
        return self._report(self._cpu() - self.cpu_start, wall_s)

    def _cpu(self) -> float:
        return self.cpu_clock() if self.cpu_clock else 0.0

    def _finalize(self) -> None:
        now = perf_counter_ns()
        if not self.stopping:
            self._stop(now)
        self.finished = True
        for handle in (self.tick_handle, self.sweep_handle):
            if handle is not None:
                handle.cancel()
        for conn in list(self.pool):
            request = conn.request
            if request is not None and conn.measured:
                self._count_failure(request.endpoint, "timeout")
            conn.close()
        self.pool.clear()
        self.idle.clear()
        for intended in self.queue:  # open loop: never got a connection
            request = self._take_request()
            if intended >= self.measure_ns:
                self._count_failure(request.endpoint, "timeout")
        self.queue.clear()
        for task in self.tasks:
            task.cancel()

    def _report(self, cpu_s: float, wall_s: float) -> WorkerReport:
        statuses = {str(code): n for code, n in enumerate(self.statuses) if n}
        statuses.update(self.failures)
        window_end = max(self.stop_at_ns, self.last_response_ns)
        running_s = (self.stop_at_ns - self.go_ns) / 1e9
        endpoints = [
            EndpointReport(
                name=endpoint.name,
                histogram=histograms.encode(endpoint.recorder.to_histogram()),
                rejected=endpoint.rejected,
                failures=endpoint.failures,
                timing=endpoint.timing,
            )
            for endpoint in self.endpoints
        ]
        corrected = self.corrected
        return WorkerReport(
            statuses=statuses,
            sent=self.sent,
            written_in_window=self.written_at_stop,
            endpoints=endpoints,
            corrected=histograms.encode(corrected.to_histogram()) if corrected else None,
            window_s=max(window_end - self.measure_ns, 0) / 1e9,
            start_window_s=max(self.stop_at_ns - self.measure_ns, 0) / 1e9,
            cpu_s=cpu_s,
            wall_s=wall_s,
            busy=(self.cpu_at_stop - self.cpu_start) / max(running_s, 1e-9),
            connections=self.wanted,
        )

    # -- the hot path --

    def complete(self, conn: Connection, status: int, keep_alive: bool, end_ns: int) -> None:
        request = conn.request
        if request is None:  # a response nobody asked for (e.g. a 408 before an idle close)
            self._retire(conn)
            return
        conn.request = None
        self.inflight -= 1
        self.responses += 1
        if conn.measured:
            # histograms.bucket_index, inlined: this runs once per response
            latency_us = (end_ns - conn.sent_ns) // 1000
            shift = (latency_us | 2047).bit_length() - 11
            request.counts[((shift + 1) << 10) + (latency_us >> shift) - 1024] += 1
            if self.open_loop:
                latency_us = (end_ns - conn.start_ns) // 1000
                shift = (latency_us | 2047).bit_length() - 11
                self.corrected_counts[((shift + 1) << 10) + (latency_us >> shift) - 1024] += 1
            self.statuses[status] += 1
            if not request.ok[status]:
                request.endpoint.rejected += 1
            if conn.server_timing is not None:
                client_ms = (end_ns - conn.sent_ns) / 1e6
                request.endpoint.timing.add_header(conn.server_timing, client_ms)
            self.last_response_ns = end_ns
        conn.server_timing = None
        if keep_alive:
            self.next(conn)
        else:
            self._retire(conn)

    def _send_closed(self, conn: Connection) -> None:
        if self.stopping:
            if not self.inflight:
                self._finish()
            return
        now = perf_counter_ns()
        if now >= self.measure_ns:
            if now >= self.stop_ns or self.remaining <= 0:
                self._stop(now)
                return
            self.remaining -= 1
            self.sent += 1
            conn.measured = True
        else:
            conn.measured = False
        cursor = self.cursor
        request = self.plan[cursor]
        cursor += 1
        self.cursor = 0 if cursor == self.plan_len else cursor
        conn.request = request
        conn.sent_ns = conn.start_ns = now
        self.inflight += 1
        conn.write(request.raw)

    def _dispatch_open(self, conn: Connection) -> None:
        if self.queue:
            self._send_open(conn, self.queue.popleft())
            return
        self.idle.add(conn)
        if self.stopping and not self.inflight:
            self._finish()

    def _send_open(self, conn: Connection, intended_ns: int) -> None:
        now = perf_counter_ns()
        request = self._take_request()
        conn.request = request
        conn.measured = measured = intended_ns >= self.measure_ns
        conn.sent_ns = now
        conn.start_ns = intended_ns if intended_ns < now else now
        if measured:
            self.written += 1
        self.inflight += 1
        conn.write(request.raw)

    def _tick(self) -> None:
        self.tick_handle = None
        if self.stopping:
            return
        now = perf_counter_ns()
        horizon = now + TIMER_SLACK_NS
        while self.next_start_ns <= horizon:
            intended = int(self.next_start_ns)
            if intended >= self.measure_ns:
                if intended >= self.stop_ns or self.remaining <= 0:
                    self._stop(now)
                    return
                self.remaining -= 1
                self.sent += 1
            self.next_start_ns += self.gap_ns()
            if self.idle:
                self._send_open(self.idle.pop(), intended)
            else:
                self.queue.append(intended)
                if self._wants_connections():
                    self._open_soon(0.0)
        self.tick_handle = self.loop.call_later((self.next_start_ns - now) / 1e9, self._tick)

    def _take_request(self) -> Planned:
        cursor = self.cursor
        self.cursor = (cursor + 1) % self.plan_len
        return self.plan[cursor]

    # -- failures, connections, the end of the run --

    def fail(self, conn: Connection, kind: str) -> None:
        if conn.retired:
            return
        request = conn.request
        if request is not None:
            conn.request = None
            self.inflight -= 1
            if conn.measured:
                self._count_failure(request.endpoint, kind)
        self._retire(conn)

    def _count_failure(self, endpoint: EndpointStats, kind: str) -> None:
        endpoint.failures += 1
        self.failures[kind] = self.failures.get(kind, 0) + 1

    def _retire(self, conn: Connection) -> None:
        conn.close()
        self.pool.discard(conn)
        self.idle.discard(conn)
        if not self.running or self.finished:
            return
        if self._wants_connections():
            self._open_soon(0.0)
        elif self.stopping and self._drained():
            self._finish()

    def _wants_connections(self) -> bool:
        if len(self.pool) + self.opening >= self.wanted:
            return False
        if self.open_loop:  # one per start waiting, beyond those already being opened
            return len(self.queue) > self.opening
        return not self.stopping

    def _open_soon(self, delay: float) -> None:
        self.opening += 1
        if delay > 0:
            self.loop.call_later(delay, self._start_open)
        else:
            self._start_open()

    def _start_open(self) -> None:
        if self.finished:
            self.opening -= 1
            return
        task = self.loop.create_task(self._open())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _open(self) -> None:
        try:
            conn = await self._connect(self.timeout_s)
        finally:
            self.opening -= 1
        if self.finished:
            if conn is not None:
                conn.close()
            return
        if conn is None:
            self._connect_failed()
            return
        if conn.retired:  # lost at once; fail() has already asked for another
            return
        self.connect_failures = 0
        self.pool.add(conn)
        self.next(conn)

    async def _connect(self, limit: float) -> Connection | None:
        conn = self.connection_class(self)
        try:
            await asyncio.wait_for(
                self.loop.create_connection(lambda: conn, self.host, self.port), limit
            )
        except (OSError, TimeoutError):
            return None
        return conn

    def _connect_failed(self) -> None:
        """A user (closed loop) or the oldest waiting start (open loop) could not connect:
        that request fails as "connect", and the connection is tried again after a
        growing pause (a refused port must not turn into a busy loop)."""
        self.connect_failures += 1
        now = perf_counter_ns()
        if not self.open_loop and not self.stopping and now >= self.measure_ns:
            if now >= self.stop_ns or self.remaining <= 0:
                self._stop(now)
            else:
                self.remaining -= 1
                self.sent += 1
                self._count_failure(self._take_request().endpoint, "connect")
        elif self.open_loop and self.queue:
            intended = self.queue.popleft()
            request = self._take_request()
            if intended >= self.measure_ns:
                self._count_failure(request.endpoint, "connect")
        if self._wants_connections():
            backoff = FIRST_BACKOFF_S * 2 ** min(self.connect_failures, 10)
            self._open_soon(min(backoff, MAX_BACKOFF_S))
        elif self.stopping and self._drained():
            self._finish()

    def _sweep(self) -> None:
        now = perf_counter_ns()
        limit = now - self.timeout_ns
        for conn in [c for c in self.pool if c.request is not None and c.sent_ns < limit]:
            self.fail(conn, "timeout")
        queue = self.queue  # open loop: a start that waited for a connection as long times out
        while queue and queue[0] < limit:
            request = self._take_request()
            if queue.popleft() >= self.measure_ns:
                self._count_failure(request.endpoint, "timeout")
        if not self.stopping and now >= self.stop_ns:
            self._stop(now)
        if self.stopping and (self._drained() or now >= self.drain_deadline_ns):
            self._finish()
        if self.on_progress is not None:
            self.on_progress(self.progress())
        if not self.finished_future.done():
            self.sweep_handle = self.loop.call_later(SWEEP_S, self._sweep)

    def progress(self) -> Progress:
        completed = sum(self.statuses)
        errors = sum(e.rejected + e.failures for e in self.endpoints)
        warming_up = perf_counter_ns() < self.measure_ns
        return Progress(self.sent, completed, errors, self.responses, warming_up)

    def abort(self) -> None:
        """Ends the run now; what is in flight counts as timed out."""
        if self.running:
            self._finish()

    def _stop(self, now: int) -> None:
        """No more starts; what is in flight (or queued) has ``timeout`` to finish."""
        if self.stopping:
            return
        self.stopping = True
        self.cpu_at_stop = self._cpu()
        self.stop_at_ns = min(now, self.stop_ns)
        self.written_at_stop = self.written
        self.drain_deadline_ns = now + self.timeout_ns
        if self.tick_handle is not None:
            self.tick_handle.cancel()
            self.tick_handle = None
        if self._drained():
            self._finish()

    def _drained(self) -> bool:
        return not self.inflight and not self.queue

    def _finish(self) -> None:
        if not self.finished_future.done():
            self.finished_future.set_result(None)
