"""The load generator against a real HTTP/1.1 server on loopback (a thread here).

Assertions are counts and relations (slow > fast, corrected >= uncorrected), never
absolute timings, except the hard bound on a run's length that the engine promises."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pytest
from hdrh.histogram import HdrHistogram

from django_pareto.load import histograms
from django_pareto.load.engine import Snapshot, run_load
from django_pareto.load.model import (
    LatencySummary,
    LoadConfig,
    LoadError,
    LoadResult,
    PlannedRequest,
    Target,
    parse_target,
)
from django_pareto.load.server_timing import parse_server_timing

STALL_S = 0.3
TIMING = b'db;dur=2.5, total;dur=4, queries;desc="3"'
TIMING_DUR = b"total;dur=3.0;desc=app,DB;dur=1.0, queries;dur=7"


@dataclass
class Route:
    status: int = 200
    delay: float = 0.0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    close: bool = False
    hang: bool = False


ROUTES = {
    b"/fast": Route(),
    b"/slow": Route(delay=0.02),
    b"/missing": Route(status=404),
    b"/broken": Route(status=500),
    b"/timing": Route(delay=0.005, headers=[(b"Server-Timing", TIMING)]),
    b"/timing-dur": Route(headers=[(b"server-timing", TIMING_DUR)]),
    b"/close": Route(close=True),
    b"/hang": Route(hang=True),
    b"/stall": Route(),  # every ``stall_every``-th one holds its connection STALL_S
}


class Server:
    """HTTP/1.1 with keep-alive on 127.0.0.1, its own event loop in a thread."""

    def __init__(self) -> None:
        self.requests = 0
        self.stall_every = 0
        self.loop = asyncio.new_event_loop()
        self.writers: set[asyncio.StreamWriter] = set()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        self.started.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self._shutdown)
        self.thread.join(5)

    @property
    def target(self) -> Target:
        return Target("127.0.0.1", self.port)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0)
        )
        self.port = self.server.sockets[0].getsockname()[1]
        self.started.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self._cancel_all())
        self.loop.close()

    def _shutdown(self) -> None:
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        self.loop.stop()

    async def _cancel_all(self) -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, path, _ = head.split(b" ", 2)
                route = ROUTES.get(path, Route(status=404))
                self.requests += 1
                if route.hang:
                    await asyncio.sleep(3600)
                delay = route.delay
                if path == b"/stall" and self.stall_every and self.requests % self.stall_every == 0:
                    delay = STALL_S
                if delay:
                    await asyncio.sleep(delay)
                body = b"" if method == b"HEAD" else b"ok"
                lines = [b"HTTP/1.1 %d X" % route.status, b"Content-Length: 2"]
                lines += [name + b": " + value for name, value in route.headers]
                lines.append(b"Connection: close" if route.close else b"Connection: keep-alive")
                writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
                if route.close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as running:
        yield running


def plan(
    *paths: str, method: str = "GET", expect: tuple[int, ...] | None = None
) -> list[PlannedRequest]:
    return [
        PlannedRequest(
            name=path.strip("/"),
            method=method,
            path=path,
            raw=f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n".encode(),
            expect=expect,
        )
        for path in paths
    ]


def config(target: Target, requests: Sequence[PlannedRequest], **options: object) -> LoadConfig:
    defaults: dict[str, object] = {
        "connections": 4,
        "duration": 5.0,
        "processes": 1,
        "timeout": 2.0,
    }
    return LoadConfig(target=target, requests=requests, **{**defaults, **options})  # type: ignore[arg-type]


def assert_ordered(latency: LatencySummary) -> None:
    assert latency.count > 0
    assert (
        0 < latency.p50 <= latency.p90 <= latency.p95 <= latency.p99 <= latency.p999 <= latency.max
    )


def timed_run(cfg: LoadConfig) -> tuple[LoadResult, float]:
    start = time.monotonic()
    result = run_load(cfg)
    return result, time.monotonic() - start


def hard_bound(cfg: LoadConfig) -> float:
    return cfg.warmup + cfg.duration + cfg.timeout + 5


# -- closed loop --


def test_max_requests_gives_exact_counts_per_endpoint(server: Server) -> None:
    result = run_load(config(server.target, plan("/fast", "/slow", "/fast"), max_requests=60))

    assert result.sent == result.completed == result.ok == 60
    assert result.errors == 0
    assert result.status_counts == {"200": 60}
    assert {name: e.count for name, e in result.endpoints.items()} == {"fast": 40, "slow": 20}
    assert server.requests == 60
    for latency in (
        result.uncorrected,
        result.corrected,
        *(e.latency for e in result.endpoints.values()),
    ):
        assert_ordered(latency)
    assert result.endpoints["slow"].latency.p50 > result.endpoints["fast"].latency.p50
    assert result.uncorrected.count == 60
    assert result.corrected.count >= result.uncorrected.count  # closed loop: added samples
    assert result.throughput_rps > 0
    assert result.client_cpu_s > 0
    assert result.processes == 1 and result.connections == 4


def test_statuses_are_counted_and_only_accepted_ones_are_ok(server: Server) -> None:
    result = run_load(config(server.target, plan("/fast", "/missing", "/broken"), max_requests=30))

    assert result.status_counts == {"200": 10, "404": 10, "500": 10}
    assert (result.completed, result.ok, result.errors) == (30, 10, 20)
    assert result.endpoints["missing"].errors == result.endpoints["broken"].errors == 10
    assert result.endpoints["fast"].errors == 0
    assert any("20 of 30 requests failed" in warning for warning in result.warnings)


def test_expect_makes_a_status_ok(server: Server) -> None:
    requests = plan("/fast") + plan("/missing", expect=(404,))
    result = run_load(config(server.target, requests, max_requests=20))

    assert (result.completed, result.ok, result.errors) == (20, 20, 0)
    assert result.status_counts == {"200": 10, "404": 10}


def test_warmup_requests_are_sent_but_not_counted(server: Server) -> None:
    result = run_load(config(server.target, plan("/slow"), warmup=0.3, duration=0.5, connections=2))

    assert result.sent == result.completed == result.ok > 0
    assert server.requests > result.sent


def test_a_closing_server_is_reconnected(server: Server) -> None:
    result = run_load(config(server.target, plan("/close", "/fast"), max_requests=20))

    assert result.sent == result.completed == result.ok == 20


def test_head_responses_end_with_their_headers(server: Server) -> None:
    # The server answers HEAD with Content-Length: 2 and no body, as it should.
    result = run_load(config(server.target, plan("/fast", method="HEAD"), max_requests=10))

    assert result.sent == result.completed == result.ok == 10


def test_progress_is_reported(server: Server) -> None:
    snapshots: list[Snapshot] = []
    result = run_load(config(server.target, plan("/slow"), duration=1.2), progress=snapshots.append)

    assert snapshots
    assert all(s.completed <= s.sent <= result.sent for s in snapshots)
    assert snapshots[-1].elapsed > snapshots[0].elapsed or len(snapshots) == 1


# -- open loop --


def test_open_loop_counts_and_rate(server: Server) -> None:
    cfg = config(
        server.target,
        plan("/fast", "/slow"),
        mode="open",
        rate=100,
        arrival="poisson",
        max_requests=30,
    )
    result = run_load(cfg)

    assert result.sent == result.completed == result.ok == 30
    assert result.endpoints["fast"].count == result.endpoints["slow"].count == 15
    assert result.corrected.count == result.uncorrected.count == 30
    assert result.corrected.p99 >= result.uncorrected.p99


def test_open_loop_corrects_for_a_stall(server: Server) -> None:
    # One connection and a 300 ms stall: the starts due meanwhile wait in the client.
    # Their wait counts from the intended start (corrected), not from the write.
    server.stall_every = 150
    cfg = config(server.target, plan("/stall"), mode="open", rate=200, connections=1, duration=2.0)
    result = run_load(cfg)

    assert result.errors == 0
    assert result.corrected.count == result.uncorrected.count == result.completed
    assert result.corrected.p99 > result.uncorrected.p99
    assert result.corrected.max >= result.uncorrected.max
    assert result.corrected.max > STALL_S * 1000 / 2
    assert any(
        "connection pool" in warning or "target rate" in warning for warning in result.warnings
    )


class OneAtATimeServer:
    """Like a gunicorn sync worker: accepts one connection, blocks reading its request,
    answers with Connection: close, and only then accepts the next."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.served = self.idle = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def target(self) -> Target:
        return Target("127.0.0.1", self.sock.getsockname()[1])

    def __enter__(self) -> OneAtATimeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    head = conn.recv(4096)
                except TimeoutError:
                    head = b""
                if not head:  # a connection opened and never used: it held the worker
                    self.idle += 1
                    continue
                self.served += 1
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")


def test_the_open_loop_connects_on_demand() -> None:
    # Idle connections opened ahead of time would each hold the only worker until they
    # time out: the open loop opens a connection when a start has none to go to.
    with OneAtATimeServer() as site:
        cfg = config(site.target, plan("/"), mode="open", rate=50, connections=8,
                     max_requests=20, timeout=1.0)  # fmt: skip
        result = run_load(cfg)
    assert result.ok == result.completed == 20 and result.errors == 0
    assert site.served >= 20


# -- failures --


def test_a_refused_connection_fails_as_connect_and_ends(server: Server) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = config(Target("127.0.0.1", port), plan("/fast"), duration=1.0, timeout=1.0, connections=2)
    result, elapsed = timed_run(cfg)

    assert result.status_counts.get("connect", 0) > 0
    assert result.completed == result.ok == 0
    assert result.errors == result.sent == result.status_counts["connect"]
    assert elapsed < hard_bound(cfg)


@pytest.mark.parametrize("processes", [1, 2])
def test_a_hanging_server_times_out_and_ends(server: Server, processes: int) -> None:
    cfg = config(
        server.target, plan("/hang"), duration=0.5, timeout=0.3, connections=2, processes=processes
    )
    result, elapsed = timed_run(cfg)

    assert result.completed == 0
    assert result.status_counts["timeout"] == result.errors == result.sent >= 2
    assert elapsed < hard_bound(cfg)


# -- processes, Server-Timing --


def test_two_processes_merge(server: Server) -> None:
    result = run_load(config(server.target, plan("/fast", "/slow"), processes=2, max_requests=40))

    assert result.processes == 2
    assert result.sent == result.completed == result.ok == 40
    assert result.endpoints["fast"].count == result.endpoints["slow"].count == 20
    assert server.requests == 40
    assert_ordered(result.uncorrected)
    assert result.endpoints["slow"].latency.p50 > result.endpoints["fast"].latency.p50


def test_two_processes_share_an_open_loop(server: Server) -> None:
    cfg = config(server.target, plan("/fast"), mode="open", rate=200, processes=2, max_requests=41)
    result = run_load(cfg)

    assert result.processes == 2
    assert result.sent == result.completed == result.corrected.count == 41


def test_server_timing_splits_the_latency(server: Server) -> None:
    result = run_load(
        config(server.target, plan("/timing", "/timing-dur", "/fast"), max_requests=30)
    )

    timing = result.endpoints["timing"].server_timing
    assert timing is not None
    assert timing.responses == 10
    assert timing.db_ms == pytest.approx(2.5)
    assert timing.app_ms == pytest.approx(4.0 - 2.5)
    assert timing.queries == pytest.approx(3)
    client_ms = result.endpoints["timing"].latency.mean
    assert timing.queue_ms == pytest.approx(client_ms - 4.0, rel=0.01, abs=0.01)

    dur_form = result.endpoints["timing-dur"].server_timing
    assert dur_form is not None
    assert (dur_form.db_ms, dur_form.app_ms, dur_form.queries) == pytest.approx((1.0, 2.0, 7))

    assert result.endpoints["fast"].server_timing is None
    overall = result.server_timing
    assert overall is not None and overall.responses == 20
    assert overall.db_ms == pytest.approx((2.5 + 1.0) / 2)


# -- the pure parts --


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (TIMING, {b"db": 2.5, b"total": 4.0, b"queries": 3.0}),
        (TIMING_DUR, {b"db": 1.0, b"total": 3.0, b"queries": 7.0}),
        (b"total;dur=1", {b"total": 1.0}),
        (  # the capture middleware's, after an app's own db entry
            b'db;dur=9, db;dur=3.25;desc="database", total;dur=12.80;desc="django", queries;desc="7"',
            {b"db": 3.25, b"total": 12.8, b"queries": 7.0},
        ),
        (b'cache;desc="hit", total;dur=2;desc="x"', {b"total": 2.0}),
        (b"db;dur=abc, total", {}),
        (b"", {}),
    ],
)
def test_parse_server_timing(header: bytes, expected: dict[bytes, float]) -> None:
    assert parse_server_timing(header) == expected


def test_the_inlined_bucket_index_is_hdrhistograms() -> None:
    reference = HdrHistogram(
        histograms.LOWEST_US, histograms.HIGHEST_US, histograms.SIGNIFICANT_DIGITS
    )
    for value in [0, 1, 1023, 2047, 2048, 2049, 4095, 4096, 123_456, 10**9, histograms.HIGHEST_US]:
        assert histograms.bucket_index(value) == reference._counts_index_for(value)
    recorder = histograms.Recorder()
    for value in (5, 1500, 250_000):
        recorder.record(value)
    histogram = recorder.to_histogram()
    assert histogram.get_total_count() == 3
    assert histogram.get_max_value() == reference.get_highest_equivalent_value(250_000)


@pytest.mark.parametrize("size", [1, 7, 5000])
def test_summaries_are_hdrhistograms(size: int) -> None:
    rng = random.Random(size)
    recorder = histograms.Recorder()
    for _ in range(size):
        recorder.record(int(rng.lognormvariate(8, 2)))
    histogram = recorder.to_histogram()

    summary = histograms.summarize(histogram)
    assert summary.count == histogram.get_total_count()
    assert summary.mean == pytest.approx(histogram.get_mean_value() / 1000)
    assert summary.max == histogram.get_max_value() / 1000
    for name, percentile in histograms.PERCENTILES.items():
        assert getattr(summary, name) == histogram.get_value_at_percentile(percentile) / 1000


def test_correction_adds_the_samples_a_closed_loop_missed() -> None:
    recorder = histograms.Recorder()
    recorder.record(250)
    recorder.record(50)
    corrected = histograms.corrected_for_omission(recorder.to_histogram(), 100)

    # 250 stood for 150 too (not 50: HdrHistogram adds values down to the interval)
    assert corrected.get_total_count() == 3
    assert corrected.get_count_at_value(150) == 1


def test_correction_agrees_with_hdrhistograms_one_by_one_definition() -> None:
    rng = random.Random(7)
    recorder = histograms.Recorder()
    for _ in range(5000):
        recorder.record(int(rng.lognormvariate(7, 1.2)))
    source, interval = recorder.to_histogram(), 1000
    one_by_one = histograms.new_histogram()
    for item in source.get_recorded_iterator():
        value, count = item.value_iterated_to, item.count_at_value_iterated_to
        while value >= interval or value == item.value_iterated_to:
            one_by_one.record_value(value, count)
            value -= interval

    corrected = histograms.corrected_for_omission(source, interval)
    assert corrected.get_total_count() == pytest.approx(one_by_one.get_total_count(), rel=0.01)
    for percentile in (50, 90, 99, 99.9):
        expected = one_by_one.get_value_at_percentile(percentile)
        assert corrected.get_value_at_percentile(percentile) == pytest.approx(expected, rel=0.02)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/", "localhost:8000", "http://[::1]:8000/x/"]
)
def test_parse_target_accepts_loopback(url: str) -> None:
    target = parse_target(url)
    assert target.port == 8000


@pytest.mark.parametrize("url", ["http://example.com/", "10.0.0.1", "http://10.0.0.1:8000/"])
def test_parse_target_refuses_other_hosts(url: str) -> None:
    with pytest.raises(LoadError, match="not a loopback address"):
        parse_target(url)
    assert parse_target(url, allow_remote=True).host in url


def test_bad_configs_are_refused() -> None:
    target = Target("127.0.0.1", 1)
    with pytest.raises(LoadError, match="needs a rate"):
        run_load(LoadConfig(target=target, requests=plan("/fast"), mode="open"))
    with pytest.raises(LoadError, match="no requests"):
        run_load(LoadConfig(target=target, requests=[]))


def test_no_process_is_left_behind(server: Server) -> None:
    import multiprocessing

    run_load(config(server.target, plan("/fast"), processes=2, max_requests=4))
    with contextlib.suppress(Exception):
        multiprocessing.active_children()  # reaps the finished ones
    assert not [p for p in multiprocessing.active_children() if p.name.startswith("pareto-load")]
