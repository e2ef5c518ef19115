"""Our query cache next to django-cachalot and django-cacheops, by cachalot's own method.

Part 1, django-cachalot's published benchmark (its ``benchmark.py``), on PostgreSQL and
Redis: 10,000 ``Test`` rows owned by 50 users in 10 groups; its 12 queries (``count()``,
``first()``, slices at 0 and 5000, ``name__icontains``, ``order_by('owner')``,
``select_related``, ``prefetch_related('owner__groups')``); for each query, the cache
cleared, then 20 runs in each of three contexts:

  control  the implementation installed but bypassed (cachalot_disabled(), cacheops
           with CACHEOPS_ENABLED off, our disabled())
  cold     the cache invalidated the implementation's own way before each run
  hot      the result already cached (no query may reach the database)

and, like cachalot's docs, per implementation "cold is N x slower than control" (cold
overhead = mean cold time / mean control time, the means over the 12 queries) and "hot
is N x faster" (hot speedup = mean control time / mean hot time). Each implementation
runs in a process of its own (cachalot and cacheops patch the ORM globally); the
implementations take turns, in rounds, and the ratios are medians over rounds. Plain
Django (no cache app at all) runs the control context too, for the cost of being
installed.

Part 2, a mixed read/write run: for each implementation and each write rate (0%, 1%,
10%, 50% of operations), 2 processes for a few seconds, each operation a write (a
``version`` bump of a row the queries return, through save(), update(), bulk_update()
and raw SQL in turn) or one of the 12 queries; throughput, hit rate (reads that sent no
query) and stale reads (a row older than the version its writer published, after
commit, before the read began; see cache_staleness.py).

    .venv/bin/python benchmarks/cache_vs_cachalot.py            # about 4.5 minutes
    .venv/bin/python benchmarks/cache_vs_cachalot.py --quick    # about a minute

Creates the PostgreSQL database ``pareto_cachebench`` and drops it at the end; flushes
Redis dbs --redis-db .. --redis-db+4. Results go to docs/benchmarks.md ("Query cache
versus django-cachalot and django-cacheops").
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # cachebench, when imported

from cachebench import harness
from cachebench.harness import IMPLS, Impl, Job, RunPlace
from cachebench.workload import CACHALOT_QUERIES

SCRIPT = Path(__file__).resolve()
CONTEXTS = ("control", "cold", "hot")
WRITE_RATES = (0.0, 0.01, 0.10, 0.50)


# --------------------------------------------------------------------------- part 1


@dataclass
class MethodResult:
    """One implementation, over the rounds: per round, per query, per context, the times."""

    impl: str
    rounds: list[dict[str, dict[str, list[float]]]] = field(default_factory=list)
    mismatches: Counter[str] = field(default_factory=Counter)  # "query context: got n"

    def mean(self, r: int, context: str) -> float:
        """cachalot's summary: the mean over the queries of each query's mean time."""
        per_query = self.rounds[r]
        return statistics.mean(statistics.mean(t[context]) for t in per_query.values())

    def ratio(self, context: str) -> list[float]:
        """Per round: cold overhead (cold / control) or hot speedup (control / hot)."""
        if context == "cold":
            return [self.mean(r, "cold") / self.mean(r, "control") for r in range(len(self.rounds))]
        return [self.mean(r, "control") / self.mean(r, "hot") for r in range(len(self.rounds))]

    def query_ratio(self, query: str, context: str) -> float:
        values = []
        for per_query in self.rounds:
            t = {c: statistics.mean(v) for c, v in per_query[query].items()}
            values.append(
                t["cold"] / t["control"] if context == "cold" else t["control"] / t["hot"]
            )
        return statistics.median(values)


def method(payload: dict[str, Any], t0: float, deadline: float) -> dict[str, Any]:
    """cachalot's Benchmark.benchmark() for each of its queries, in this process."""
    from django.core.cache import caches
    from django.db import connection

    from cachebench import impls
    from cachebench.workload import cachalot_query

    name = payload["impl"]
    n = payload["runs"]
    contexts = ("control",) if impls.kind(name) == "none" else CONTEXTS
    counter = harness.QueryCounter()
    counter.install()
    queries = [(s, cachalot_query(s, to_list), q) for s, to_list, q in CACHALOT_QUERIES]
    # Nothing timed yet: connect and warm Python with the cache off, then once through the
    # cache (ours loads the database's table list on a process's first cached read).
    with impls.disabled(name):
        for _, function, _ in queries:
            function()
    for _, function, _ in queries:
        function()
    times: dict[str, dict[str, list[float]]] = {}
    mismatches: list[str] = []
    for suffix, function, expected in queries:
        caches["default"].clear()  # like cachalot: the same start for every query
        times[suffix] = {}
        for context in contexts:
            samples = []
            for _ in range(n):
                if context == "cold":
                    impls.invalidate_all(name)
                before = counter.count
                if context == "control":
                    with impls.disabled(name):
                        started = time.perf_counter()
                        function()
                        elapsed = time.perf_counter() - started
                else:
                    started = time.perf_counter()
                    function()
                    elapsed = time.perf_counter() - started
                samples.append(elapsed)
                sent = counter.count - before
                want = 0 if context == "hot" else expected
                if sent != want:
                    mismatches.append(f"{suffix} {context}: {sent} queries, not {want}")
            times[suffix][context] = samples
    connection.close()
    return {"times": times, "mismatches": mismatches}


def run_method(place: RunPlace, impls: list[Impl], rounds: int, runs: int) -> list[MethodResult]:
    results = {impl.name: MethodResult(impl.name) for impl in impls}
    order = list(impls)
    for r in range(rounds):
        started = time.perf_counter()
        for impl in order:
            harness.clear_redis(place.services, impl.name, f"{place.prefix}:{impl.name}")
            out = harness.run_one(place, impl, Job("method", {"runs": runs}))
            results[impl.name].rounds.append(out["times"])
            results[impl.name].mismatches.update(out["mismatches"])
        print(f"  round {r + 1}/{rounds}: {time.perf_counter() - started:.0f} s", flush=True)
        order = order[1:] + order[:1]  # a different implementation goes first each round
    return [results[impl.name] for impl in impls]


def spread(values: list[float], digits: int = 2) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}x"
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:.{digits}f}x [{low:.{digits}f}, {high:.{digits}f}]"


def print_method(results: list[MethodResult]) -> None:
    plain = next((m for m in results if m.impl == "none"), None)
    print()
    print(
        "cachalot's method: per implementation, means over its 12 queries of the mean of "
        "20 runs; ratios are medians over rounds [min, max]"
    )
    rows = []
    for m in results:
        if m.impl == "none":
            continue
        n = range(len(m.rounds))
        control = [m.mean(r, "control") for r in n]
        hot = [m.mean(r, "hot") for r in n]
        base = plain if plain is not None and len(plain.rounds) == len(m.rounds) else None
        rows.append((
            harness.label(m.impl),
            f"{1e3 * statistics.median(control):.3f}",
            f"{1e3 * statistics.median(m.mean(r, 'cold') for r in n):.3f}",
            f"{1e3 * statistics.median(hot):.3f}",
            spread(m.ratio("cold")),
            spread(m.ratio("hot"), 1),
            spread([base.mean(r, "control") / hot[r] for r in n], 1) if base else "-",
            spread([control[r] / base.mean(r, "control") for r in n]) if base else "-",
            sum(m.mismatches.values()),
        ))  # fmt: skip
    print(
        harness.markdown_table(
            ["implementation", "control ms", "cold ms", "hot ms", "cold overhead (cold/control)",
             "hot speedup (control/hot)", "hot speedup vs plain Django", "control / plain Django",
             "query-count mismatches"],
            rows,
            "lrrrrrrrr",
        )
    )  # fmt: skip
    if plain is not None:
        ms = statistics.median(plain.mean(r, "control") for r in range(len(plain.rounds)))
        print(f"plain Django (no cache app): {1e3 * ms:.3f} ms")
    for m in results:
        if m.impl != "none":
            label = harness.label(m.impl)
            print(
                f"- {label:25} is {statistics.median(m.ratio('cold')):.2f}x slower (cold) then "
                f"{statistics.median(m.ratio('hot')):.1f}x faster (hot)   [cachalot's phrasing]"
            )
    for m in results:
        for what, count in m.mismatches.most_common(6):
            print(f"  mismatch {m.impl}: {what} ({count} of the runs)")
    print()
    print("Per query (median over rounds): cold overhead / hot speedup")
    shown = [m for m in results if m.impl != "none"]
    print(
        harness.markdown_table(
            ["query", *[harness.label(m.impl) for m in shown]],
            [
                (f"`{suffix}`", *[f"{m.query_ratio(suffix, 'cold'):.2f}x / "
                                  f"{m.query_ratio(suffix, 'hot'):.1f}x" for m in shown])
                for suffix, _, _ in CACHALOT_QUERIES
            ],
            "l" + "r" * len(shown),
        )
    )  # fmt: skip


def method_bar(results: list[MethodResult]) -> list[str]:
    by = {m.impl: m for m in results}
    if "ours" not in by:
        return ["bar (part 1): not measured (ours did not run)"]
    others = [by[n] for n in ("cachalot", "cacheops") if n in by]
    if not others:
        return ["bar (part 1): no other implementation to compare with"]
    hot = statistics.median(by["ours"].ratio("hot"))
    cold = statistics.median(by["ours"].ratio("cold"))
    best_hot = max(statistics.median(m.ratio("hot")) for m in others)
    best_cold = min(statistics.median(m.ratio("cold")) for m in others)
    return [
        f"bar, hot speedup at least the better of the others ({best_hot:.1f}x): "
        f"{'MET' if hot >= best_hot else 'NOT MET'} (ours {hot:.1f}x)",
        f"bar, cold overhead at most the better of the others ({best_cold:.2f}x): "
        f"{'MET' if cold <= best_cold else 'NOT MET'} (ours {cold:.2f}x)",
    ]


# --------------------------------------------------------------------------- part 2


@dataclass
class MixedResult:
    impl: str
    rate: float
    ops: int = 0
    reads: int = 0
    writes: int = 0
    hits: int = 0
    stale: int = 0
    throughput: list[float] = field(default_factory=list)  # ops/s of each round
    stale_by_path: Counter[str] = field(default_factory=Counter)
    stats: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def hit_rate(self) -> float:
        return self.hits / self.reads if self.reads else 0.0

    @property
    def ops_per_s(self) -> float:
        return statistics.median(self.throughput) if self.throughput else 0.0


def mixed(payload: dict[str, Any], t0: float, deadline: float) -> dict[str, Any]:
    """Operations until the deadline: a write with probability ``rate``, else a read."""
    from cachebench import impls
    from cachebench.models import Test
    from cachebench.workload import (
        PATH_LETTER,
        ROWS_PER_WRITE,
        WRITE_PATHS,
        Published,
        Publisher,
        cachalot_query,
        owned,
        write,
    )

    rng = random.Random(payload["seed"])
    mine = owned(payload["hot"], payload["index"], payload["of"])
    version = dict.fromkeys(mine, 0)
    paths: dict[int, str] = dict.fromkeys(mine, "")
    publisher = Publisher(payload["bookkeeping"], payload["published"])
    published = Published(payload["bookkeeping"], payload["published"])
    queries = [cachalot_query(s, to_list) for s, to_list, _ in CACHALOT_QUERIES]
    counter = harness.QueryCounter()
    counter.install()
    impls.reset_stats(payload["impl"])
    rate = payload["rate"]
    turn = rng.randrange(len(WRITE_PATHS))
    ops = reads = writes = hits = stale = 0
    stale_rows: list[tuple[int, int]] = []
    errors: list[str] = []
    while time.time() < deadline and ops < payload["max"]:
        ops += 1
        try:
            if mine and rng.random() < rate:
                path = WRITE_PATHS[turn % len(WRITE_PATHS)]
                turn += 1
                pks = rng.sample(mine, min(ROWS_PER_WRITE[path], len(mine)))
                versions = {pk: version[pk] + 1 for pk in pks}
                write(Test, path, versions)
                version.update(versions)
                for pk in pks:
                    paths[pk] += PATH_LETTER[path]
                publisher.publish(versions)
                writes += 1
                continue
            expected = published.all() if rate else {}
            before = counter.count
            result = rng.choice(queries)()
            reads += 1
            hits += counter.count == before
            objs = result if isinstance(result, list) else [result]
            bad = [
                (o.pk, o.version)
                for o in objs
                if isinstance(o, Test) and o.version < expected.get(o.pk, 0)
            ]
            if bad:
                stale += 1
                stale_rows.extend(bad)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            if len(errors) > 20:
                break
    return {
        "ops": ops, "reads": reads, "writes": writes, "hits": hits, "stale": stale,
        "elapsed": time.time() - t0, "stale_rows": stale_rows,
        "paths": {str(pk): p for pk, p in paths.items()}, "errors": errors,
        "stats": impls.stats(payload["impl"]),
    }  # fmt: skip


def run_mixed(
    place: RunPlace,
    impls: list[Impl],
    hot: list[int],
    rates: Sequence[float],
    procs: int,
    seconds: float,
    rounds: int,
    max_ops: int,
) -> list[MixedResult]:
    """Rounds of short runs, the implementations side by side at each write rate (their
    order turning from one rate to the next), so that a slow spell of a shared machine
    does not fall on one implementation only."""
    from cachebench.workload import LETTER_PATH

    results = {(impl.name, rate): MixedResult(impl.name, rate) for impl in impls for rate in rates}
    order = list(impls)
    for r in range(rounds):
        started = time.perf_counter()
        for rate in rates:
            for impl in order:
                m = results[impl.name, rate]
                harness.clear_redis(place.services, impl.name, f"{place.prefix}:{impl.name}")
                harness.pg_execute(
                    place.services, place.database, "UPDATE cachebench_test SET version = 0"
                )
                key = f"{place.prefix}:pub:{impl.name}:{rate}:{r}"
                jobs = [
                    Job("mixed", {"index": i, "of": procs, "rate": rate, "hot": hot,
                                  "published": key, "seed": 1000 * r + 10 * i + int(rate * 100),
                                  "max": max_ops})
                    for i in range(procs)
                ]  # fmt: skip
                outputs, _ = harness.run_pool(
                    place, impl, jobs, seconds=seconds, timeout=seconds + 300
                )
                letters: dict[str, str] = {}
                for out in outputs:
                    letters.update(out["paths"])
                throughput = 0.0
                for out in outputs:
                    m.ops += out["ops"]
                    m.reads += out["reads"]
                    m.writes += out["writes"]
                    m.hits += out["hits"]
                    m.stale += out["stale"]
                    throughput += out["ops"] / out["elapsed"] if out["elapsed"] else 0.0
                    m.stats.update(out["stats"])
                    m.errors += out["errors"]
                    for pk, got in out["stale_rows"]:
                        path = letters.get(str(pk), "")
                        missed = LETTER_PATH.get(path[got], "?") if got < len(path) else "?"
                        m.stale_by_path[missed] += 1
                m.throughput.append(throughput)
            order = order[1:] + order[:1]
        print(
            f"  round {r + 1}/{rounds}: {time.perf_counter() - started:.0f} s; ops/s "
            + ", ".join(
                f"{impl.name} "
                + "/".join(f"{results[impl.name, x].throughput[-1]:.0f}" for x in rates)
                for impl in impls
            ),
            flush=True,
        )
    return list(results.values())


def print_mixed(results: list[MixedResult], procs: int, seconds: float, rounds: int) -> None:
    base = {m.rate: m.throughput for m in results if m.impl == "none"}

    def versus(m: MixedResult) -> str:
        """Median over rounds of the ratio to no cache at the same rate in the same round."""
        none = base.get(m.rate)
        if not none or len(none) != len(m.throughput):
            return "-"
        return f"{statistics.median(t / b for t, b in zip(m.throughput, none, strict=True)):.2f}x"

    print()
    print(
        f"Mixed read/write: {procs} processes, {rounds} rounds of {seconds:g} s per "
        "implementation and write rate (ops/s: median over rounds); "
        "a read is one of the 12 queries, a write one version bump (save, update, "
        "bulk_update, raw SQL in turn)"
    )
    print(
        harness.markdown_table(
            ["implementation", "write rate", "ops/s", "vs no cache", "writes", "reads",
             "hit rate", "stale reads", "stale rows by missed write path"],
            [
                (harness.label(m.impl), f"{m.rate:.0%}", f"{m.ops_per_s:,.0f}",
                 versus(m),
                 f"{m.writes:,}", f"{m.reads:,}", f"{m.hit_rate:.1%}",
                 f"{m.stale:,} ({100 * m.stale / m.reads if m.reads else 0:.2f}%)",
                 ", ".join(f"{p} {n}" for p, n in m.stale_by_path.most_common()) or "-")
                for m in results
            ],
            "llrrrrrrl",
        )
    )  # fmt: skip
    for m in results:
        if m.errors:
            print(f"  ERRORS {m.impl} {m.rate:.0%}: {m.errors[:3]}")
        if m.stats:
            print(f"  own counters, {m.impl} {m.rate:.0%}: {dict(sorted(m.stats.items()))}")


# --------------------------------------------------------------------------- main


def setup(payload: dict[str, Any], t0: float, deadline: float) -> dict[str, Any]:
    """Migrate, seed like cachalot's create_data(), and name the rows the queries return
    (the mixed run writes those, so that a missed invalidation can show)."""
    from django.core.management import call_command

    from cachebench.models import Test
    from cachebench.workload import cachalot_query, seed_cachalot_data

    call_command("migrate", verbosity=0, interactive=False)
    seed_cachalot_data(payload["rows"])
    hot: set[int] = set()
    for suffix, to_list, _ in CACHALOT_QUERIES:
        result = cachalot_query(suffix, to_list)()
        objs = result if isinstance(result, list) else [result]
        hot.update(o.pk for o in objs if isinstance(o, Test))
    return {"hot": sorted(hot), "rows": Test.objects.count()}


ROLES: dict[str, harness.Role] = {"setup": setup, "method": method, "mixed": mixed}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of part 1 (5)")
    parser.add_argument("--runs", type=int, default=20, help="runs per query and context (20)")
    parser.add_argument("--rows", type=int, default=10_000, help="Test rows (10,000)")
    parser.add_argument(
        "--rates", default="0,1,10,50", help="write rates of part 2, in percent (0,1,10,50)"
    )
    parser.add_argument("--procs", type=int, default=2, help="processes in part 2 (2)")
    parser.add_argument("--seconds", type=float, default=2.0, help="per part-2 run (2 s)")
    parser.add_argument("--mixed-rounds", type=int, default=3, help="rounds of part 2 (3)")
    parser.add_argument("--max-ops", type=int, default=1_000_000, help="per part-2 process")
    parser.add_argument("--skip-mixed", action="store_true", help="part 1 only")
    parser.add_argument(
        "--impls", default="none,ours,cachalot,cacheops", help="comma-separated (all four)"
    )
    parser.add_argument("--database", default="pareto_cachebench")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="without a db")
    parser.add_argument(
        "--redis-db", type=int, default=10, help="bookkeeping db; caches use the next 4 (10)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="1 round of each part, 5 runs, 1.5 s runs"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.runs, args.seconds, args.mixed_rounds = 1, 5, 1.5, 1
    return args


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--worker":
        harness.worker_main(sys.argv[2], ROLES)
        return 0
    args = parse_args(argv)
    started = time.perf_counter()
    services = replace(harness.services_from_env(), redis=args.redis, redis_db=args.redis_db)
    for line in harness.environment(
        "query cache versus django-cachalot and django-cacheops", services
    ):
        print(line)
    impls, notes = harness.select(n.strip() for n in args.impls.split(",") if n.strip())
    for note in notes:
        print(f"note: {note}")
    rates = [float(r) / 100 for r in args.rates.split(",") if r.strip()]
    prefix = f"vs{os.getpid()}x{int(time.time()) % 100000}"
    with harness.scratch_database(services, args.database):
        place = RunPlace(SCRIPT, services, args.database, prefix)
        t = time.perf_counter()
        seeded = harness.run_one(place, IMPLS["none"], Job("setup", {"rows": args.rows}))
        print(
            f"seeded {seeded['rows']:,} Test rows in {time.perf_counter() - t:.0f} s; "
            f"the 12 queries return {len(seeded['hot'])} distinct rows"
        )
        print(f"part 1: {args.rounds} rounds x {len(impls)} implementations, {args.runs} runs")
        method_results = run_method(place, impls, args.rounds, args.runs)
        mixed_results = []
        if not args.skip_mixed:
            print(f"part 2: write rates {', '.join(f'{r:.0%}' for r in rates)}")
            mixed_results = run_mixed(
                place, impls, seeded["hot"], rates, args.procs, args.seconds,
                args.mixed_rounds, args.max_ops,
            )  # fmt: skip
        for impl in impls:
            harness.clear_redis(replace(services, flush=False), impl.name, f"{prefix}:{impl.name}")
        harness.clear_redis(replace(services, flush=False), None, f"{prefix}:")
    print_method(method_results)
    if mixed_results:
        print_mixed(mixed_results, args.procs, args.seconds, args.mixed_rounds)
    print()
    for line in method_bar(method_results):
        print(line)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    print(f"total {time.perf_counter() - started:.0f} s, load average now {load[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
