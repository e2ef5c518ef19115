"""Cache staleness: do concurrent readers ever see an older row than one already committed?

Several processes read and write the same small table on PostgreSQL, through an ORM
query cache on Redis, side by side for each implementation (each in processes of its
own, with its own settings module and Redis db):

  none      plain Django (the control: it must show no stale read, or the harness is wrong)
  ours      django_pareto.querycache, MODE "all"
  cachalot  django-cachalot
  cacheops  django-cacheops, every op of every model

Each row carries a ``version`` that only grows. W writer processes each own a share of
the rows and bump their versions through every write path of the ORM in turn (``save()``,
``QuerySet.update()``, ``bulk_update()``, raw SQL ``UPDATE`` through
``connection.cursor()``), and publish a version in a Redis hash no cache sees, only once
the write has committed and the ORM call (or the ``atomic()`` block) has returned.
R reader processes read the published versions, then read rows through the ORM (by pk,
a few by ``pk__in``, the whole table, and ``Sum("version")``): a result older than what
was published before the read began is a stale read. Once every process has stopped,
a pause, then one process replays every distinct query the readers ran, through the
cache, and compares with the database: a difference is a lingering stale entry.

Every implementation runs in three modes: ``autocommit`` (each write, each read on its
own), ``atomic`` (writers write 1-3 rows per ``transaction.atomic()`` block, readers
read 1-4 times per block) and ``atomic-writes`` (writers in atomic blocks, readers in
autocommit: views that read outside transactions and write inside them).

    .venv/bin/python benchmarks/cache_staleness.py                # 12 runs of 10 s, ~2.5 min
    .venv/bin/python benchmarks/cache_staleness.py --seconds 3    # about a minute

Bounded by --seconds and by --max-writes / --max-reads per process. Creates the
PostgreSQL database ``pareto_staleness`` and drops it at the end; flushes Redis dbs
--redis-db .. --redis-db+4 at the start of each run. Results go to docs/benchmarks.md
("Cache staleness").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # cachebench, when imported

from cachebench import harness
from cachebench.harness import IMPLS, Impl, Job, RunPlace, Services
from cachebench.workload import LETTER_PATH, WRITE_PATHS

SCRIPT = Path(__file__).resolve()
# How writers and readers use transactions, per mode: each on its own (autocommit), in
# transaction.atomic() blocks, or writes in atomic blocks and reads in autocommit (a site
# whose views read outside transactions and write inside them).
MODES = ("autocommit", "atomic", "atomic-writes")
WRITES_ATOMIC = {"autocommit": False, "atomic": True, "atomic-writes": True}
READS_ATOMIC = {"autocommit": False, "atomic": True, "atomic-writes": False}
# The kinds of read, and how often each is drawn.
READ_KINDS = {"get": 50, "in": 20, "all": 15, "sum": 15}
GROUP = 3  # rows per pk__in read
EXAMPLES = 20  # stale reads kept in full per process, for the report


# --------------------------------------------------------------------------- the run


@dataclass
class Config:
    impls: list[Impl]
    modes: Sequence[str] = MODES
    modes_of: Mapping[str, Sequence[str]] = field(default_factory=dict)  # per impl, if not all
    seconds: float = 10.0
    writers: int = 2
    readers: int = 4
    rows: int = 20
    max_writes: int = 200_000  # per writer process
    max_reads: int = 2_000_000  # per reader process
    write_interval_ms: float = 0.0  # pause between a writer's operations
    write_paths: Sequence[str] = WRITE_PATHS  # taken in turn by every writer
    pause: float = 1.0  # after everyone stopped, before the lingering check
    database: str = "pareto_staleness"
    services: Services = field(default_factory=Services)
    seed: int = 0


@dataclass
class RunResult:
    impl: str
    mode: str
    reads: int = 0
    stale_reads: int = 0
    hits: int = 0
    writes: int = 0  # row versions committed and published
    write_ops: int = 0  # write calls (save, update, bulk_update, raw statement groups)
    writes_per_s: float = 0.0
    reads_per_s: float = 0.0
    reads_by_kind: Counter[str] = field(default_factory=Counter)
    stale_by_kind: Counter[str] = field(default_factory=Counter)
    stale_by_path: Counter[str] = field(default_factory=Counter)  # the write a stale row missed
    stale_hits: int = 0  # stale reads served without a query to the database
    lingering: int = 0  # distinct queries whose cached result differs from the database
    checked: int = 0  # distinct queries replayed by the lingering check
    lingering_by_path: Counter[str] = field(default_factory=Counter)
    lingering_examples: list[dict[str, Any]] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)  # the implementation's own counters
    errors: list[str] = field(default_factory=list)

    @property
    def stale_pct(self) -> float:
        return 100.0 * self.stale_reads / self.reads if self.reads else 0.0

    @property
    def hit_rate(self) -> float:
        return self.hits / self.reads if self.reads else 0.0


def run(config: Config, progress: Callable[[str], None] = print) -> list[RunResult]:
    """Every implementation in every mode; the database is created and dropped here."""
    services = config.services
    prefix = f"stale{os.getpid()}x{int(time.time()) % 100000}"
    results = []
    with harness.scratch_database(services, config.database):
        place = RunPlace(SCRIPT, services, config.database, prefix)
        setup = harness.run_one(place, IMPLS["none"], Job("setup", {"rows": config.rows}))
        pks: list[int] = setup["pks"]
        try:
            for impl in config.impls:
                for mode in config.modes_of.get(impl.name, config.modes):
                    started = time.perf_counter()
                    result = run_once(config, place, impl, mode, pks)
                    results.append(result)
                    progress(
                        f"  {impl.name:9} {mode:10} {result.reads:8,} reads "
                        f"{result.stale_reads:6,} stale ({result.stale_pct:.2f}%) "
                        f"{result.lingering:3} lingering, hit rate {result.hit_rate:.1%}, "
                        f"{time.perf_counter() - started:.0f} s"
                    )
        finally:  # leave no keys behind: the run's own, whoever shares the db
            keep = replace(services, flush=False)
            for impl in config.impls:
                harness.clear_redis(keep, impl.name, f"{prefix}:{impl.name}")
            harness.clear_redis(keep, None, f"{prefix}:")
    return results


def run_once(config: Config, place: RunPlace, impl: Impl, mode: str, pks: list[int]) -> RunResult:
    services = place.services
    harness.clear_redis(services, impl.name, f"{place.prefix}:{impl.name}")
    harness.pg_execute(
        services, place.database, "UPDATE cachebench_row SET version = 0, payload = ''"
    )
    published = f"{place.prefix}:pub:{impl.name}:{mode}"
    common = {"mode": mode, "pks": pks, "published": published}
    jobs = [
        Job("writer", {**common, "index": i, "of": config.writers, "max": config.max_writes,
                       "seed": config.seed * 1000 + i, "interval_ms": config.write_interval_ms,
                       "write_paths": list(config.write_paths)})
        for i in range(config.writers)
    ] + [
        Job("reader", {**common, "index": i, "max": config.max_reads,
                       "seed": config.seed * 1000 + 100 + i})
        for i in range(config.readers)
    ]  # fmt: skip
    outputs, (check,) = harness.run_pool(
        place,
        impl,
        jobs,
        seconds=config.seconds,
        then=[Job("check", common)],
        pause=config.pause,
        timeout=config.seconds + 300,
    )
    return summarize(impl, mode, outputs[: config.writers], outputs[config.writers :], check)


def summarize(
    impl: Impl,
    mode: str,
    writers: list[dict[str, Any]],
    readers: list[dict[str, Any]],
    check: dict[str, Any],
) -> RunResult:
    r = RunResult(impl.name, mode)
    paths: dict[str, str] = {}  # pk -> the write path of each version, one letter each
    for w in writers:
        r.writes += w["writes"]
        r.write_ops += w["ops"]
        r.writes_per_s += w["writes"] / w["elapsed"] if w["elapsed"] else 0.0
        paths.update(w["paths"])
        r.stats.update(w["stats"])
        r.errors += w["errors"]

    def missed_path(pk: int, got: int) -> str:
        """The write path of the first version a stale row missed (version got + 1)."""
        letters = paths.get(str(pk), "")
        return LETTER_PATH.get(letters[got], "?") if 0 <= got < len(letters) else "?"

    for rd in readers:
        r.reads += rd["reads"]
        r.stale_reads += rd["stale"]
        r.hits += rd["hits"]
        r.stale_hits += rd["stale_hits"]
        r.reads_per_s += rd["reads"] / rd["elapsed"] if rd["elapsed"] else 0.0
        r.reads_by_kind.update(rd["by_kind"])
        r.stale_by_kind.update(rd["stale_by_kind"])
        for pk, got in rd["stale_rows"]:
            r.stale_by_path[missed_path(pk, got)] += 1
        r.stats.update(rd["stats"])
        r.errors += rd["errors"]
        for example in rd["examples"]:
            if len(r.examples) < EXAMPLES:
                for row in example["rows"]:
                    row["missed"] = missed_path(row["pk"], row["got"])
                r.examples.append(example)
    r.checked = check["checked"]
    r.lingering = len(check["lingering"])
    for entry in check["lingering"]:
        for row in entry["rows"]:
            row["missed"] = missed_path(row["pk"], row["got"])
            r.lingering_by_path[row["missed"]] += 1
        if len(r.lingering_examples) < EXAMPLES:
            r.lingering_examples.append(entry)
    return r


# --------------------------------------------------------------------------- workers


def setup(payload: dict[str, Any], t0: float, deadline: float) -> dict[str, Any]:
    from django.core.management import call_command

    from cachebench.models import Row

    call_command("migrate", verbosity=0, interactive=False)
    Row.objects.bulk_create([Row() for _ in range(payload["rows"])])
    return {"pks": sorted(Row.objects.values_list("pk", flat=True))}


def _block(atomic: bool) -> Any:
    from django.db import transaction

    return transaction.atomic() if atomic else nullcontext()


def writer(payload: dict[str, Any], t0: float, deadline: float) -> dict[str, Any]:
    """Bump the versions of this writer's rows through each write path in turn; publish
    a version only after the call (or the atomic block) that wrote it has returned."""
    from cachebench import impls
    from cachebench.models import Row
    from cachebench.workload import (
        PATH_LETTER,
        ROWS_PER_WRITE,
        Publisher,
        owned,
        write,
    )

    rng = random.Random(payload["seed"])
    mine = owned(payload["pks"], payload["index"], payload["of"])
    if not mine:
        raise SystemExit("more writers than rows")
    version = dict.fromkeys(mine, 0)
    paths = dict.fromkeys(mine, "")
    publisher = Publisher(payload["bookkeeping"], payload["published"])
    atomic = WRITES_ATOMIC[payload["mode"]]
    cycle: list[str] = payload["write_paths"]
    turn = rng.randrange(len(cycle))
    writes = ops = 0
    errors: list[str] = []
    interval = payload["interval_ms"] / 1000
    impls.reset_stats(payload["impl"])
    while time.time() < deadline and writes < payload["max"]:
        # A block: 1-3 write calls on distinct rows in atomic mode, one call otherwise.
        free = list(mine)
        rng.shuffle(free)
        calls = []
        for _ in range(rng.randint(1, 3) if atomic else 1):
            path = cycle[turn % len(cycle)]
            turn += 1
            n = min(ROWS_PER_WRITE[path], len(free))
            if n == 0:
                break
            calls.append((path, {pk: version[pk] + 1 for pk in free[:n]}))
            free = free[n:]
        try:
            with _block(atomic):
                for path, versions in calls:
                    write(Row, path, versions)
        except Exception as exc:  # a failed write is not published; report it
            errors.append(f"{type(exc).__name__}: {exc}")
            if len(errors) > 20:
                break
            continue
        done = {}
        for path, versions in calls:
            for pk, v in versions.items():
                version[pk] = v
                paths[pk] += PATH_LETTER[path]
            done.update(versions)
            ops += 1
        publisher.publish(done)
        writes += len(done)
        if interval:
            time.sleep(interval)
    elapsed = time.time() - t0
    return {"writes": writes, "ops": ops, "elapsed": elapsed,
            "paths": {str(pk): p for pk, p in paths.items()}, "errors": errors,
            "stats": impls.stats(payload["impl"])}  # fmt: skip


def groups(pks: list[int]) -> list[list[int]]:
    """The pk__in reads: GROUP consecutive rows, wrapping around (a fixed set, so that
    the lingering check can replay every one of them)."""
    return [[pks[(i + j) % len(pks)] for j in range(GROUP)] for i in range(len(pks))]


def read(kind: str, arg: Any) -> dict[int, int] | int:
    """One ORM read, through whatever cache is installed: rows as pk -> version, or the
    sum of the versions."""
    from django.db.models import Sum

    from cachebench.models import Row

    if kind == "get":
        row = Row.objects.get(pk=arg)
        return {row.pk: row.version}
    if kind == "in":
        return {row.pk: row.version for row in Row.objects.filter(pk__in=arg)}
    if kind == "all":
        return {row.pk: row.version for row in Row.objects.all()}
    if kind == "sum":
        total = Row.objects.aggregate(total=Sum("version"))["total"]
        return int(total or 0)
    raise ValueError(kind)


def reader(payload: dict[str, Any], t0: float, deadline: float) -> dict[str, Any]:
    from cachebench import impls
    from cachebench.workload import Published, stale_rows

    counter = harness.QueryCounter()
    counter.install()

    rng = random.Random(payload["seed"])
    pks: list[int] = payload["pks"]
    in_groups = groups(pks)
    published = Published(payload["bookkeeping"], payload["published"])
    kinds, weights = list(READ_KINDS), list(READ_KINDS.values())
    atomic = READS_ATOMIC[payload["mode"]]
    reads = stale = hits = stale_hits = 0
    by_kind: Counter[str] = Counter()
    stale_by_kind: Counter[str] = Counter()
    stale_list: list[tuple[int, int]] = []  # (pk, version read) of every stale row
    examples: list[dict[str, Any]] = []
    errors: list[str] = []

    def one() -> None:
        nonlocal reads, stale, hits, stale_hits
        kind = rng.choices(kinds, weights)[0]
        arg: Any = None
        if kind == "get":
            arg = rng.choice(pks)
            expected = published.some([arg])
        elif kind == "in":
            arg = rng.choice(in_groups)
            expected = published.some(arg)
        else:
            expected = published.all()
        began = time.time()
        before = counter.count
        got = read(kind, arg)
        hit = counter.count == before
        reads += 1
        hits += hit
        by_kind[kind] += 1
        if isinstance(got, int):
            want = sum(expected.values())
            bad = [(0, got, want)] if got < want else []
        else:
            bad = stale_rows(got, expected)
        if not bad:
            return
        stale += 1
        stale_hits += hit
        stale_by_kind[kind] += 1
        if kind != "sum":
            stale_list.extend((pk, g) for pk, g, _ in bad)
        if len(examples) < EXAMPLES:
            examples.append({
                "kind": kind, "arg": arg, "hit": hit, "began": began,
                "rows": [{"pk": pk, "got": g, "published": w} for pk, g, w in bad[:5]],
            })  # fmt: skip

    impls.reset_stats(payload["impl"])
    while time.time() < deadline and reads < payload["max"]:
        try:
            with _block(atomic):
                for _ in range(rng.randint(1, 4) if atomic else 1):
                    one()
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            if len(errors) > 20:
                break
    elapsed = time.time() - t0
    return {"reads": reads, "stale": stale, "hits": hits, "stale_hits": stale_hits,
            "elapsed": elapsed, "by_kind": by_kind, "stale_by_kind": stale_by_kind,
            "stale_rows": stale_list, "examples": examples, "errors": errors,
            "stats": impls.stats(payload["impl"])}  # fmt: skip


def lingering_check(payload: dict[str, Any], t0: float, deadline: float) -> dict[str, Any]:
    """Replay every distinct query the readers can have run, through the cache, and
    compare with the database read directly (psycopg, outside Django: no cache there)."""
    import psycopg

    pks: list[int] = payload["pks"]
    with psycopg.connect(payload["conninfo"]) as conn:
        rows = conn.execute(b"SELECT id, version FROM cachebench_row").fetchall()
        truth: dict[int, int] = {int(pk): int(v) for pk, v in rows}
    queries: list[tuple[str, Any]] = [("get", pk) for pk in pks]
    queries += [("in", g) for g in groups(pks)] + [("all", None), ("sum", None)]
    lingering = []
    for kind, arg in queries:
        got = read(kind, arg)
        if isinstance(got, int):
            want = sum(truth.values())
            if got != want:
                lingering.append({"kind": kind, "arg": arg, "got": got, "truth": want, "rows": []})
            continue
        expected = {pk: truth[pk] for pk in ([arg] if kind == "get" else arg or pks)}
        bad = [(pk, got.get(pk, -1), v) for pk, v in expected.items() if got.get(pk, -1) != v]
        if bad:
            lingering.append({
                "kind": kind, "arg": arg,
                "rows": [{"pk": pk, "got": g, "truth": v} for pk, g, v in bad],
            })  # fmt: skip
    return {"checked": len(queries), "lingering": lingering}


ROLES: dict[str, harness.Role] = {
    "setup": setup,
    "writer": writer,
    "reader": reader,
    "check": lingering_check,
}


# --------------------------------------------------------------------------- report


def print_report(results: list[RunResult], notes: list[str]) -> None:
    print()
    print(
        harness.markdown_table(
            [
                "implementation",
                "mode",
                "reads",
                "stale reads",
                "stale %",
                "lingering stale entries",
                "hit rate",
                "writes/s",
                "reads/s",
            ],
            [
                (
                    harness.label(r.impl),
                    r.mode,
                    f"{r.reads:,}",
                    f"{r.stale_reads:,}",
                    f"{r.stale_pct:.2f}%",
                    f"{r.lingering} of {r.checked}",
                    f"{r.hit_rate:.1%}",
                    f"{r.writes_per_s:,.0f}",
                    f"{r.reads_per_s:,.0f}",
                )
                for r in results
            ],
            "llrrrrrrr",
        )
    )
    for note in notes:
        print(f"note: {note}")
    print(
        "stale % = stale reads / reads; a read is stale when a row it returns is older than "
        "the version published (committed, and the write call returned) before it began. "
        "lingering = of the distinct queries replayed after everyone stopped, those whose "
        "cached result differs from the database. hit rate = reads that sent no query. "
        "writes/s = row versions committed."
    )
    print()
    print("Where the stale reads come from (stale rows by the write path of the first version "
          "missed; reads by kind, stale/total; stale reads served without a query):")  # fmt: skip
    for r in results:
        kinds = ", ".join(f"{k} {r.stale_by_kind[k]}/{r.reads_by_kind[k]}" for k in READ_KINDS)
        paths = ", ".join(f"{p} {n}" for p, n in r.stale_by_path.most_common()) or "-"
        linger = ", ".join(f"{p} {n}" for p, n in r.lingering_by_path.most_common()) or "-"
        print(
            f"- {r.impl} {r.mode}: stale rows by path: {paths}; lingering rows by path: "
            f"{linger}; by kind: {kinds}; stale hits {r.stale_hits}/{r.stale_reads}; "
            f"{r.write_ops:,} write calls, {r.writes:,} versions"
            + (f"; own counters: {dict(sorted(r.stats.items()))}" if r.stats else "")
            + (f"; ERRORS: {r.errors[:3]}" if r.errors else "")
        )
    for r in results:
        if r.examples or r.lingering_examples:
            print()
            print(f"{r.impl} {r.mode}: first stale reads (began = UNIX time at the read's start)")
            for e in r.examples[:5]:
                print(f"  {json.dumps(e)}")
            for e in r.lingering_examples[:5]:
                print(f"  lingering: {json.dumps(e)}")


def verdict(results: list[RunResult]) -> list[str]:
    lines = []
    control = [r for r in results if r.impl == "none"]
    if control:
        bad = sum(r.stale_reads + r.lingering for r in control)
        lines.append(
            f"harness check: the control (no cache) shows {bad} stale reads or entries "
            f"(must be 0): {'OK' if bad == 0 else 'HARNESS BROKEN'}"
        )
    ours = [r for r in results if r.impl == "ours"]
    if ours:
        stale = sum(r.stale_reads for r in ours)
        lingering = sum(r.lingering for r in ours)
        met = stale == 0 and lingering == 0 and not any(r.errors for r in ours)
        lines.append(
            f"bar (ours: zero stale reads and zero lingering stale entries, every mode): "
            f"{'MET' if met else 'NOT MET'} ({stale} stale reads, {lingering} lingering)"
        )
    else:
        lines.append("bar: not measured (ours did not run)")
    return lines


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per run (10)")
    parser.add_argument("--writers", type=int, default=2, help="writer processes (2)")
    parser.add_argument("--readers", type=int, default=4, help="reader processes (4)")
    parser.add_argument("--rows", type=int, default=20, help="rows in the table (20)")
    parser.add_argument("--max-writes", type=int, default=200_000, help="per writer")
    parser.add_argument("--max-reads", type=int, default=2_000_000, help="per reader")
    parser.add_argument(
        "--write-interval-ms", type=float, default=0.0, help="pause between writes (0)"
    )
    parser.add_argument(
        "--write-paths",
        default=",".join(WRITE_PATHS),
        help="taken in turn by every writer (save,update,bulk_update,raw)",
    )
    parser.add_argument("--pause", type=float, default=1.0, help="before the check (1 s)")
    parser.add_argument(
        "--impls", default="none,ours,cachalot,cacheops", help="comma-separated (all four)"
    )
    parser.add_argument(
        "--modes", default=",".join(MODES), help="autocommit,atomic,atomic-writes (all three)"
    )
    parser.add_argument("--database", default="pareto_staleness")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="without a db")
    parser.add_argument(
        "--redis-db", type=int, default=10, help="bookkeeping db; caches use the next 4 (10)"
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--worker":
        harness.worker_main(sys.argv[2], ROLES)
        return 0
    args = parse_args(argv)
    started = time.perf_counter()
    services = replace(harness.services_from_env(), redis=args.redis, redis_db=args.redis_db)
    for line in harness.environment("cache staleness", services):
        print(line)
    impls, notes = harness.select(n.strip() for n in args.impls.split(",") if n.strip())
    for note in notes:
        print(f"note: {note}")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    paths = [p.strip() for p in args.write_paths.split(",") if p.strip()]
    unknown = sorted(set(paths) - set(WRITE_PATHS)) + sorted(set(modes) - set(MODES))
    if unknown or not paths:
        raise SystemExit(f"unknown write path(s) or mode(s): {unknown}")
    print(
        f"{args.writers} writers, {args.readers} readers, {args.rows} rows, "
        f"{args.seconds:g} s per run; modes {', '.join(modes)}; write paths {', '.join(paths)}"
    )
    config = Config(
        impls=impls, modes=modes, seconds=args.seconds, writers=args.writers,
        readers=args.readers, rows=args.rows, max_writes=args.max_writes,
        max_reads=args.max_reads, write_interval_ms=args.write_interval_ms,
        write_paths=paths,
        pause=args.pause, database=args.database, services=services, seed=args.seed,
    )  # fmt: skip
    results = run(config)
    print_report(results, notes)
    print()
    for line in verdict(results):
        print(line)
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
