"""Capture overhead: what django-pareto's capture costs a site, next to django-silk.

Serves demo endpoints in-process (Django's test ``Client``) under three handler
configurations, side by side in one run:

  off     ParetoMiddleware removed (and no SQL hook on the connection): plain Django
  pareto  ParetoMiddleware first in MIDDLEWARE, SAMPLE_RATE 1.0, store in a temp dir
  silk    silk.middleware.SilkyMiddleware first in MIDDLEWARE instead (silk's defaults,
          SILKY_PYTHON_PROFILER False); silk writes to its tables inside the request

The machine is shared and its CPU speed drifts, so the configurations alternate in
short bursts within every round (see ``run_round``) and the results are medians over
rounds of per-round ratios. Throughput is counted in CPU time per request, pareto's
background writer thread included; latency in wall time. A microbenchmark then times the
SQL hook alone, per query, and ``--profile N`` adds cProfile tables of the request path
and of the writer.

    .venv/bin/python benchmarks/capture_overhead.py            # a few minutes
    .venv/bin/python benchmarks/capture_overhead.py --quick    # smoke run, < 30 s

Results and the command that produced them go to docs/benchmarks.md ("Capture overhead").
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import logging
import os
import platform
import pstats
import random
import shlex
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from io import StringIO
from pathlib import Path
from types import FrameType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "demo"
URLCONF = "capture_overhead_urls"  # built in memory: the demo's URLs plus silk's

PARETO_MW = "django_pareto.capture.middleware.ParetoMiddleware"
SILK_MW = "silk.middleware.SilkyMiddleware"
CONFIGS = ("off", "pareto", "silk")

LIGHT_URL = "/api/profiles/{username}/"  # one query: the user and profile by username
HEAVY_URL = "/api/articles/?limit={limit}"  # 1 list query + 2 per article (N+1s)
TARGET_QUERIES = 20
BURST = 3  # timed requests in a row per configuration, after one untimed (see run_round)

BAR_OVERHEAD_PCT = 5.0  # on the ~20-query endpoint, at 100% sampling
BAR_US_PER_QUERY = 30.0


# --------------------------------------------------------------------------- setup


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=12, help="rounds (12)")
    parser.add_argument(
        "--requests",
        type=int,
        default=30,
        help="timed requests per configuration per round, ~20-query endpoint (30)",
    )
    parser.add_argument(
        "--light-factor",
        type=int,
        default=4,
        help="the light endpoint gets this many times --requests per round (4)",
    )
    parser.add_argument(
        "--warmup", type=int, default=20, help="warm-up requests per configuration (20)"
    )
    parser.add_argument("--scale", default="0.2", help="demo seed scale (0.2)")
    parser.add_argument(
        "--db", type=Path, help="an already seeded demo SQLite DB to copy instead of seeding"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: few rounds and requests (< 30 s)"
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also cProfile N requests of the ~20-query endpoint under pareto capture",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.requests, args.warmup = 3, 9, 3
    return args


def configure(tmp: Path) -> None:
    """Django settings: the demo's, on a temp SQLite DB, with silk installed everywhere."""
    os.environ.pop("DATABASE_URL", None)  # the demo would use it; we want the temp SQLite DB
    os.environ.pop("PARETO_RUN", None)
    sys.path.insert(0, str(DEMO))
    import django
    from django.conf import settings

    import demosite.settings as demo

    values = {name: getattr(demo, name) for name in dir(demo) if name.isupper()}
    values.update(
        DEBUG=False,  # DEBUG=True would make Django keep every query in connection.queries
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp / "db.sqlite3")}
        },
        INSTALLED_APPS=[*demo.INSTALLED_APPS, "silk"],  # all three configs: only MIDDLEWARE varies
        ROOT_URLCONF=URLCONF,
        MEDIA_ROOT=str(tmp / "media"),
        PARETO={"RUN": "bench", "SAMPLE_RATE": 1.0, "STORE": str(tmp / "pareto.sqlite3")},
        SILKY_PYTHON_PROFILER=False,
    )
    urls = types.ModuleType(URLCONF)
    sys.modules[URLCONF] = urls
    settings.configure(**values)
    # silk decorates a function of its own at import time and warns that its middleware
    # is not in MIDDLEWARE (it is not, in settings: only in the silk handler's).
    logging.getLogger("silk.profiling.profiler").setLevel(logging.ERROR)
    django.setup()

    from django.urls import include, path

    from demosite.urls import urlpatterns

    urls.urlpatterns = [path("silk/", include("silk.urls", namespace="silk")), *urlpatterns]  # type: ignore[attr-defined]


def prepare_db(tmp: Path, scale: str, source: Path | None) -> str:
    """Migrate (demo + silk tables) and seed the temp DB; returns what was done."""
    from django.core.management import call_command

    if source is not None:
        shutil.copyfile(source, tmp / "db.sqlite3")
    call_command("migrate", verbosity=0, interactive=False)
    if source is not None:
        return f"copy of {source.name}"
    started = time.perf_counter()
    call_command("seed", scale=float(scale), verbosity=0, stdout=StringIO())
    return f"seeded at scale {scale} in {time.perf_counter() - started:.1f} s"


def environment() -> list[str]:
    import django

    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return [
        f"# capture overhead, {time.strftime('%Y-%m-%d %H:%M %Z')}",
        "command: " + shlex.join([Path(sys.executable).name, *sys.argv]),
        f"python {platform.python_version()} ({platform.python_implementation()}), "
        f"django {django.get_version()}, sqlite {sqlite3.sqlite_version}, "
        f"django-silk {version('django-silk')}, django-pareto {version('django-pareto')}",
        f"machine: {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
    ]


# --------------------------------------------------------------------------- handlers


@dataclass
class Handler:
    name: str
    client: Any  # django.test.Client with its middleware chain loaded


def middleware_for(config: str, base: Sequence[str]) -> list[str]:
    rest = [mw for mw in base if mw != PARETO_MW]
    if config == "pareto":
        return [PARETO_MW, *rest]
    if config == "silk":
        return [SILK_MW, *rest]  # first, like ParetoMiddleware (silk's docs want it early)
    return rest


def build_handlers() -> dict[str, Handler]:
    from django.conf import settings
    from django.test import Client, override_settings

    handlers = {}
    for config in CONFIGS:
        with override_settings(MIDDLEWARE=middleware_for(config, settings.MIDDLEWARE)):
            client = Client()
            client.handler.load_middleware()  # the chain is fixed from here on
        handlers[config] = Handler(config, client)
    return handlers


def quiesce() -> None:
    """Remove every instrumentation left by the previous batch.

    django-pareto's hook is on the connection (the app's ``connection_created`` receiver
    and the middleware add it); silk monkeypatches ``SQLCompiler.execute_sql`` on its first
    request and never undoes it. Each configuration must start from plain Django: the
    pareto middleware re-adds its hook and silk's re-patches on their first request.
    """
    from django.db import connections
    from django.db.models.sql.compiler import SQLCompiler

    from django_pareto.capture import recorder

    for alias in connections:
        wrappers = connections[alias].execute_wrappers
        while recorder.sql_hook in wrappers:
            wrappers.remove(recorder.sql_hook)
    if "_execute_sql" in vars(SQLCompiler):
        SQLCompiler.execute_sql = SQLCompiler._execute_sql  # type: ignore[attr-defined,method-assign]
        del SQLCompiler._execute_sql  # type: ignore[attr-defined]


def count_queries(handler: Handler, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    quiesce()
    handler.client.get(url)  # silk: patch first, then count a steady-state request
    with CaptureQueriesContext(connection) as ctx:
        response = handler.client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(ctx.captured_queries)


def light_url() -> str:
    from django.contrib.auth import get_user_model

    username = get_user_model().objects.order_by("pk").values_list("username", flat=True)[0]
    return LIGHT_URL.format(username=username)


def heavy_url(off: Handler) -> tuple[str, int]:
    """The article list URL whose limit gives the query count closest to TARGET_QUERIES."""
    from django_pareto.capture import recorder

    client = off.client  # no middleware of ours to replace the capture set below

    def queries(limit: int) -> int:
        capture = recorder.RequestCapture(sampled=False, max_events=0, record_params=False)
        recorder.install_everywhere()
        token = recorder.current.set(capture)
        try:
            response = client.get(HEAVY_URL.format(limit=limit))
        finally:
            recorder.current.reset(token)
        assert response.status_code == 200, response.status_code
        return capture.query_count

    one, two = queries(1), queries(2)
    per_row = max(1, two - one)
    limit = max(1, round((TARGET_QUERIES - (one - per_row)) / per_row))
    return HEAVY_URL.format(limit=limit), limit


# --------------------------------------------------------------------------- timing


@dataclass
class Round:
    """One round of one endpoint: per configuration, seconds per request."""

    cpu_s: dict[str, float]  # median request-thread CPU time; pareto's plus writer_s
    wall_s: dict[str, float]  # median request wall time (request thread only)
    writer_s: float  # CPU time of pareto's writer thread over the round, per pareto request


@dataclass
class Endpoint:
    label: str
    url: str
    requests: int  # per configuration per round
    queries: dict[str, int] = field(default_factory=dict)
    rounds: list[Round] = field(default_factory=list)


def flush_writer() -> None:
    from django_pareto.capture.writer import get_writer

    if not get_writer().flush():
        raise RuntimeError("the pareto writer did not drain")


def run_round(handlers: dict[str, Handler], url: str, n: int, seed: int) -> Round:
    """n timed requests per configuration, the configurations alternating in short bursts.

    The CPU speed of a shared VM drifts by tens of percent within seconds, so the three
    configurations alternate burst by burst, in a random order, and each is summarized by
    its median request time. A burst is one untimed request and BURST timed ones, all of
    the same configuration: a request right after one of another configuration runs on
    caches that one left (after one of silk's, up to a third slower), which is not what a
    server running one configuration sees.

    Each request is timed twice: CPU time of the request thread (``time.thread_time``,
    blind to the time the VM runs other processes) and wall time. Pareto's writer
    thread works in the background, 0.5 s batches at a time; its CPU time over the round
    (drained at the end of the round) is added to the CPU time of pareto's requests:
    CPU per request, all threads, is what bounds the throughput of a saturated server.
    """
    walls: dict[str, list[float]] = {c: [] for c in CONFIGS}
    cpus: dict[str, list[float]] = {c: [] for c in CONFIGS}
    served = dict.fromkeys(CONFIGS, 0)
    flush_writer()
    gc.collect()
    process0, thread0 = time.process_time(), time.thread_time()
    rng = random.Random(seed)
    order = list(CONFIGS)
    for _ in range(-(-n // BURST)):
        rng.shuffle(order)
        for config in order:
            get = handlers[config].client.get
            quiesce()
            for i in range(BURST + 1):
                c0 = time.thread_time()
                t0 = time.perf_counter()
                response = get(url)
                t1 = time.perf_counter()
                c1 = time.thread_time()
                if response.status_code != 200:
                    raise RuntimeError(f"{config} {url}: HTTP {response.status_code}")
                if i:
                    walls[config].append(t1 - t0)
                    cpus[config].append(c1 - c0)
            served[config] += BURST + 1
    flush_writer()  # the main thread sleeps in here: the rest of the CPU time is the writer's
    writer = ((time.process_time() - process0) - (time.thread_time() - thread0)) / served["pareto"]
    cpu = {c: statistics.median(cpus[c]) for c in CONFIGS}
    cpu["pareto"] += writer
    return Round(cpu, {c: statistics.median(walls[c]) for c in CONFIGS}, writer)


def measure(
    endpoints: list[Endpoint], handlers: dict[str, Handler], rounds: int, warmup: int
) -> None:
    for endpoint in endpoints:
        run_round(handlers, endpoint.url, warmup, 0)
    for r in range(rounds):
        started = time.perf_counter()
        for endpoint in endpoints:
            endpoint.rounds.append(run_round(handlers, endpoint.url, endpoint.requests, r))
        print(f"  round {r + 1}/{rounds} {time.perf_counter() - started:.1f} s", flush=True)


def quantiles(values: list[float]) -> tuple[float, float, float]:
    """(p25, median, p75)."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


@dataclass
class View:
    """One way of timing requests, summarized over the rounds."""

    per_request_s: dict[str, float]  # median over rounds
    overhead_pct: dict[str, tuple[float, float, float]]  # 1 - t_off / t, p25/median/p75
    us_per_query: tuple[float, float, float]  # (t_pareto - t_off) / queries, p25/median/p75


def view(endpoint: Endpoint, times: Callable[[Round], dict[str, float]]) -> View:
    rounds = [times(r) for r in endpoint.rounds]
    queries = max(1, endpoint.queries["off"])
    return View(
        {c: statistics.median(t[c] for t in rounds) for c in CONFIGS},
        {c: quantiles([100 * (1 - t["off"] / t[c]) for t in rounds]) for c in CONFIGS[1:]},
        quantiles([1e6 * (t["pareto"] - t["off"]) / queries for t in rounds]),
    )


def spread(q: tuple[float, float, float], digits: int, unit: str = "%") -> str:
    return f"{q[1]:.{digits}f}{unit} [{q[0]:.{digits}f}, {q[2]:.{digits}f}]"


def print_tables(endpoints: list[Endpoint]) -> dict[str, View]:
    cpu = {e.label: view(e, lambda r: r.cpu_s) for e in endpoints}
    wall = {e.label: view(e, lambda r: r.wall_s) for e in endpoints}
    print()
    print(
        "Throughput: req/s per busy core = 1 / CPU time per request (request thread, "
        "plus pareto's writer thread)"
    )
    print(
        "| endpoint | queries/request | req/s off | req/s pareto | req/s silk "
        "| pareto overhead | silk overhead | pareto µs/query |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for e in endpoints:
        v = cpu[e.label]
        t = v.per_request_s
        print(
            f"| {e.label} `{e.url}` | {e.queries['off']} | {1 / t['off']:.0f} "
            f"| {1 / t['pareto']:.0f} | {1 / t['silk']:.0f} "
            f"| {spread(v.overhead_pct['pareto'], 1)} | {spread(v.overhead_pct['silk'], 0)} "
            f"| {spread(v.us_per_query, 1, '')} |"
        )
    print()
    print("Latency: median wall time per request (request thread only)")
    print(
        "| endpoint | ms off | ms pareto | ms silk | pareto overhead | silk overhead "
        "| pareto µs/query |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for e in endpoints:
        v = wall[e.label]
        t = v.per_request_s
        print(
            f"| {e.label} | {1e3 * t['off']:.2f} | {1e3 * t['pareto']:.2f} "
            f"| {1e3 * t['silk']:.2f} | {spread(v.overhead_pct['pareto'], 1)} "
            f"| {spread(v.overhead_pct['silk'], 0)} | {spread(v.us_per_query, 1, '')} |"
        )
    print()
    print(
        "overhead = 1 - t_off / t (the share of throughput lost, or of the latency that is "
        "the tool's); µs/query = (t_pareto - t_off) / queries per request, per-request "
        "costs included; medians over rounds [p25, p75]"
    )
    for e in endpoints:
        rounds = e.rounds
        writer = statistics.median(r.writer_s for r in rounds)
        thread = statistics.median(r.cpu_s["pareto"] - r.writer_s - r.cpu_s["off"] for r in rounds)
        print(
            f"{e.label}: pareto's CPU per request = +{1e6 * thread:.0f} µs in the request "
            f"thread + {1e6 * writer:.0f} µs in the writer thread; silk ran "
            f"{e.queries['silk']} queries/request (an EXPLAIN of each query, its INSERTs)"
        )
    return cpu


# --------------------------------------------------------------------------- SQL hook alone

HOOK_MODES = ("no hook", "hook, no request", "hook, unsampled", "hook, sampled")


def set_hook_mode(mode: str) -> None:
    """no hook: plain Django. hook, no request: the hook is on the connection but no
    request is being captured (the app is installed but not the middleware, or the path
    is ignored). hook, unsampled: a captured request outside the sample (its queries are
    counted and timed). hook, sampled: a captured request whose queries are kept, each
    with its call site. A fresh capture per call, like a fresh request."""
    from django.db import connections

    from django_pareto.capture import recorder

    quiesce()
    if mode != "no hook":
        recorder.install(connections["default"])
    capture = None
    if mode in ("hook, unsampled", "hook, sampled"):
        capture = recorder.RequestCapture(
            sampled=mode == "hook, sampled", max_events=1000, record_params=False
        )
    recorder.current.set(capture)


def _time_block(query: Callable[[], object], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        query()
    return (time.perf_counter() - t0) / n


def _hook_calls(
    hook: Callable[..., Any] | None,
    execute: Callable[..., Any],
    sql: str,
    context: dict[str, Any],
    events: list[Any],
    n: int,
) -> float:
    t0 = time.perf_counter()
    if hook is None:
        for _ in range(n):
            execute(sql, (1,), False, context)
    else:
        for i in range(n):
            if i % 500 == 0:
                events.clear()
            hook(execute, sql, (1,), False, context)
    return (time.perf_counter() - t0) / n


def _noop_execute(sql: str, params: Any, many: bool, context: dict[str, Any]) -> None:
    return None


def hook_microbenchmark(repeats: int, heavy: Handler, heavy_url: str) -> None:
    """Per-query cost of the SQL hook in each mode; blocks of queries, modes interleaved
    in a random order, medians of the block times.

    1. a trivial ORM query, ``Tag.objects.filter(pk=...).first()``, blocks of 20;
    2. a raw ``cursor.execute("SELECT %s", [1])``, blocks of 100;
    3. the hook around a no-op instead of the database, called from a one-frame stack:
       the hook's own Python with the shortest possible call-site walk;
    4. the call-site walk alone, timed inside every query of the ~20-query endpoint (the
       real stacks, from the hook's caller up to the view), by a probe execute wrapper.
    """
    from django.db import connections

    from blog.models import Tag
    from django_pareto.capture import callsite, recorder

    pk = Tag.objects.values_list("pk", flat=True).first()
    assert pk is not None, "the demo DB has no tags"
    connection = connections["default"]

    def orm_query() -> None:
        Tag.objects.filter(pk=pk).first()

    def raw_query() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s", [1])
            cursor.fetchall()

    series: dict[str, dict[str, list[float]]] = {}
    for label, query, block in (("orm", orm_query, 20), ("raw", raw_query, 100)):
        times: dict[str, list[float]] = {m: [] for m in HOOK_MODES}
        rng = random.Random(0)
        order = list(HOOK_MODES)
        gc.collect()
        for r in range(-3, repeats):  # the first blocks warm up (call-site cache, statements)
            rng.shuffle(order)
            for mode in order:
                set_hook_mode(mode)
                elapsed = _time_block(query, block)
                if r >= 0:
                    times[mode].append(elapsed)
        series[label] = times
    recorder.current.set(None)
    quiesce()

    context = {"connection": connection, "cursor": None}  # what CursorWrapper passes
    sql = 'SELECT "blog_tag"."id" FROM "blog_tag" WHERE "blog_tag"."id" = %s LIMIT 1'
    calls = 5000
    noop: dict[str, list[float]] = {m: [] for m in HOOK_MODES}
    for _ in range(max(3, repeats // 10)):
        for mode in HOOK_MODES:
            capture = recorder.RequestCapture(
                sampled=mode == "hook, sampled", max_events=1000, record_params=False
            )
            active = mode in ("hook, unsampled", "hook, sampled")
            token = recorder.current.set(capture if active else None)
            try:
                hook = None if mode == "no hook" else recorder.sql_hook
                noop[mode].append(
                    _hook_calls(hook, _noop_execute, sql, context, capture.events, calls)
                )
            finally:
                recorder.current.reset(token)

    first: list[float] = []  # the call-site lookup as the hook does it (depth per SQL)
    walk: list[float] = []  # the full walk up the stack, which the depth cache avoids
    again: list[float] = []  # the full walk repeated right away: CPU caches warm
    depths: list[int] = []
    mismatches: list[Any] = []

    def probe(execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any) -> Any:
        frame = sys._getframe(1)  # where sql_hook's caller would be: Django's cursor code
        t0 = time.perf_counter()
        site = callsite.find_for(sql)  # probe stands where sql_hook stands: same depths
        t1 = time.perf_counter()
        walked = callsite.find(frame)
        t2 = time.perf_counter()
        if walked != site:
            mismatches.append((site, walked))
        for _ in range(20):
            callsite.find(frame)
        first.append(t1 - t0)
        walk.append(t2 - t1)
        again.append((time.perf_counter() - t2) / 20)
        depth = 0
        f_: FrameType | None = frame
        while f_ is not None and site != (
            callsite.display_name(f_.f_code.co_filename),
            f_.f_lineno,
            f_.f_code.co_name,
        ):
            depth, f_ = depth + 1, f_.f_back
        depths.append(depth)
        return execute(sql, params, many, ctx)

    # The probe stands where sql_hook stands; like the hook's own file, it is not user code.
    callsite._user_files[probe.__code__.co_filename] = ""
    quiesce()
    connection.execute_wrappers.append(probe)
    try:
        heavy.client.get(heavy_url)  # fills the call-site caches, as in a running server
        first.clear()
        walk.clear()
        again.clear()
        depths.clear()
        for _ in range(max(3, repeats // 15)):
            heavy.client.get(heavy_url)
    finally:
        connection.execute_wrappers.remove(probe)

    print()
    print(
        f"SQL hook alone, µs per query, medians over {repeats} interleaved blocks per mode: "
        "(1) `Tag.objects.filter(pk=...).first()`, (2) raw `cursor.execute('SELECT %s', [1])`, "
        "(3) the hook around a no-op execute (one frame to walk)"
    )
    print("| mode | (1) ORM query | hook cost | (2) raw query | hook cost | (3) hook cost |")
    print("|---|---:|---:|---:|---:|---:|")
    for mode in HOOK_MODES:
        orm = 1e6 * statistics.median(series["orm"][mode])
        raw = 1e6 * statistics.median(series["raw"][mode])
        if mode == "no hook":
            print(f"| {mode} | {orm:.1f} | - | {raw:.1f} | - | - |")
            continue
        orm_cost = orm - 1e6 * statistics.median(series["orm"]["no hook"])
        raw_cost = raw - 1e6 * statistics.median(series["raw"]["no hook"])
        bare = statistics.median(
            1e6 * (t - b) for t, b in zip(noop[mode], noop["no hook"], strict=True)
        )
        print(f"| {mode} | {orm:.1f} | {orm_cost:.2f} | {raw:.1f} | {raw_cost:.2f} | {bare:.2f} |")
    print(
        f"(4) call-site walk in the real stacks of {heavy_url} ({len(first)} queries, "
        f"{statistics.mean(depths):.1f} library frames walked on average), µs/query: "
        f"as the hook does it (depth remembered per SQL) {1e6 * statistics.median(first):.2f} "
        f"median ({1e6 * statistics.mean(first):.2f} mean); the full walk "
        f"{1e6 * statistics.median(walk):.2f} median, repeated at once (warm CPU caches) "
        f"{1e6 * statistics.median(again):.2f} median; "
        f"{len(mismatches)} lookups disagreeing with the full walk {mismatches[:2]}"
    )


# --------------------------------------------------------------------------- profile


def profile(handler: Handler, url: str, n: int) -> None:
    """cProfile n requests under pareto capture, then the writer's work on their records."""
    from django_pareto import conf
    from django_pareto.capture.writer import get_writer
    from django_pareto.store.open import open_store

    quiesce()
    for _ in range(20):
        handler.client.get(url)
    writer = get_writer()
    writer.flush()
    records: list[Any] = []
    submit = writer.submit
    writer.submit = lambda run, record: records.append(record)  # type: ignore[method-assign]
    try:
        requests = cProfile.Profile()
        requests.enable()
        for _ in range(n):
            handler.client.get(url)
        requests.disable()
    finally:
        writer.submit = submit  # type: ignore[method-assign]
    print_profile(f"{n} requests of {url} under pareto capture (request thread)", requests, n)

    store = open_store(conf.get())
    store.write("profile", records[:1])  # schema, run row, first fingerprints
    writes = cProfile.Profile()
    writes.enable()
    store.write("profile", records[1:])
    writes.disable()
    store.close()
    print_profile(f"the writer storing {n - 1} of those requests (one batch)", writes, n - 1)


def print_profile(title: str, profiler: cProfile.Profile, n: int) -> None:
    stats = pstats.Stats(profiler)
    entries: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    total = sum(value[2] for value in entries.values())
    ours = [(key, value) for key, value in entries.items() if "django_pareto" in key[0]]
    own = sum(value[2] for _, value in ours)
    print()
    print(
        f"cProfile, {title}: {total * 1e6 / n:.0f} µs/request in all, django_pareto's own "
        f"code {own * 1e6 / n:.0f} µs/request ({100 * own / total:.1f}%); "
        "profiler-inflated, compare shares"
    )
    print("| function | calls/request | own µs/request | cumulative µs/request |")
    print("|---|---:|---:|---:|")
    top = sorted(entries.items(), key=lambda kv: -kv[1][2])[:12]
    top += [kv for kv in sorted(ours, key=lambda kv: -kv[1][3])[:8] if kv not in top]
    for (filename, line, func), (_cc, calls, own_s, cum_s, _callers) in top:
        where = func if filename == "~" else f"{shorten(filename)}:{line} {func}"
        print(f"| {where} | {calls / n:.1f} | {own_s * 1e6 / n:.1f} | {cum_s * 1e6 / n:.1f} |")


def shorten(filename: str) -> str:
    for marker in ("site-packages/", "django_pareto/", "/lib/python"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pareto-bench-") as tmpdir:
        tmp = Path(tmpdir)
        configure(tmp)
        for line in environment():
            print(line)
        print("database: " + prepare_db(tmp, args.scale, args.db))
        handlers = build_handlers()
        url, limit = heavy_url(handlers["off"])
        endpoints = [
            Endpoint("light", light_url(), args.requests * args.light_factor),
            Endpoint(f"N+1 (limit={limit})", url, args.requests),
        ]
        for endpoint in endpoints:
            for config in CONFIGS:
                endpoint.queries[config] = count_queries(handlers[config], endpoint.url)
            print(
                f"endpoint {endpoint.url}: {endpoint.queries['off']} queries/request "
                f"({endpoint.queries['silk']} under silk), "
                f"{endpoint.requests} requests per configuration per round"
            )
        print(
            f"{args.rounds} rounds; in a round the {len(CONFIGS)} configurations alternate "
            f"in bursts of 1 untimed + {BURST} timed requests (random order), one endpoint "
            "after the other"
        )
        measure(endpoints, handlers, args.rounds, args.warmup)
        views = print_tables(endpoints)
        heavy = views[endpoints[1].label]
        overhead, per_query = heavy.overhead_pct["pareto"][1], heavy.us_per_query[1]
        met = overhead <= BAR_OVERHEAD_PCT and per_query < BAR_US_PER_QUERY
        print()
        print(
            f"bar (~{TARGET_QUERIES}-query endpoint, 100% sampling, CPU: at most "
            f"{BAR_OVERHEAD_PCT:.0f}% of throughput and under {BAR_US_PER_QUERY:.0f} µs/query): "
            f"{'MET' if met else 'NOT MET'} ({overhead:.1f}%, {per_query:.1f} µs/query)"
        )
        hook_microbenchmark(20 if args.quick else 150, handlers["off"], endpoints[1].url)
        if args.profile:
            profile(handlers["pareto"], endpoints[1].url, args.profile)
        from django_pareto.capture import health

        print()
        print(f"capture health (faults and drops, must be empty): {health.snapshot()}")
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    print(f"total {time.perf_counter() - started:.0f} s, load average now {load[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
