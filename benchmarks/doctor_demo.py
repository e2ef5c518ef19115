"""The whole loop on the demo site on PostgreSQL: before versus after all prescribed fixes.

Seeds the demo into a PostgreSQL database at a scale where its problems bite, records a
run `before` of its workload, runs the doctor, writes the index migrations it prescribes
(`pareto fix --allow-drop`), and lets `pareto verify` apply them to a scratch copy
(`CREATE DATABASE ... TEMPLATE`) and replay the same workload as run `after` with the
demo's N+1 code fixes on (DEMO_FIXED=1). Prints the before/after totals, the slowest
endpoint's p95, and the ratios. The generated migrations are removed at the end and the
benchmark database is dropped.

    .venv/bin/python benchmarks/doctor_demo.py                    # scale 5, ~8 minutes
    .venv/bin/python benchmarks/doctor_demo.py --scale 1 --requests 200   # quicker

Bar (docs/benchmarks.md): total database time at least 5x lower, and the slowest
endpoint's p95 at least 5x lower.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

from demo_commands import DEMO, FIXES, demo_env, manage, psql, seed_and_record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=5.0)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    print(f"command: python benchmarks/doctor_demo.py {' '.join(sys.argv[1:])}".rstrip())
    db = "pareto_bench_demo"
    psql(f"DROP DATABASE IF EXISTS {db}", f"{args.server}/postgres")
    psql(f"CREATE DATABASE {db}", f"{args.server}/postgres")
    migrations = DEMO / "blog" / "migrations"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = demo_env(f"{args.server}/{db}", tmp)
            seed_and_record(env, args.scale, args.requests)
            started = time.perf_counter()
            doctor = json.loads(manage(env, "pareto", "doctor", "--run", "before",
                                       "--format", "json", capture=True))  # fmt: skip
            ids: dict[str, int] = {}
            for finding in doctor["findings"]:
                ids[finding["id"]] = ids.get(finding["id"], 0) + 1
            print(f"doctor in {time.perf_counter() - started:.0f} s: {ids}")
            manage(env, "pareto", "fix", "--run", "before", "--app", "blog", "--allow-drop",
                   "--write")  # fmt: skip
            written = sorted(migrations.glob(FIXES))
            print(f"migrations written: {[p.name for p in written]}")
            apply = [a for p in written for a in ("--apply", str(p))]
            started = time.perf_counter()
            manage({**env, "DEMO_FIXED": "1"}, "pareto", "verify", "--run", "before", *apply,
                   "--as", "after", "--replace")  # fmt: skip
            print(f"verified (scratch copy, replay) in {time.perf_counter() - started:.0f} s")
            data = json.loads(manage(env, "pareto", "compare", "before", "after",
                                     "--format", "json", capture=True))  # fmt: skip
    finally:
        for path in migrations.glob(FIXES):
            path.unlink()
        psql(f"DROP DATABASE IF EXISTS {db}", f"{args.server}/postgres")
    total = data["total"]
    slowest = max(data["endpoints"], key=lambda e: (e["before"] or {}).get("p95_ms", 0))
    print()
    print("| | before | after | ratio |")
    print("|---|---:|---:|---:|")
    for label, metric in [
        ("database time, total ms", "db_ms"),
        ("p50 ms", "p50_ms"),
        ("p95 ms", "p95_ms"),
        ("queries per request", "queries_per_request"),
    ]:
        b, a = total["before"][metric], total["after"][metric]
        print(f"| {label} | {b:,.1f} | {a:,.1f} | {b / a if a else float('inf'):.2f}x |")
    b, a = slowest["before"]["p95_ms"], slowest["after"]["p95_ms"]
    print(
        f"| slowest endpoint p95 ms ({slowest['endpoint']}) | {b:,.1f} | {a:,.1f} | "
        f"{b / a if a else float('inf'):.2f}x |"
    )
    print()
    print("per endpoint (p95 ms before -> after, database ms per request before -> after):")
    for e in data["endpoints"]:
        if e["before"] and e["after"]:
            print(
                f"  {e['endpoint']}: {e['before']['p95_ms']:.1f} -> {e['after']['p95_ms']:.1f}"
                f"; {e['before']['db_ms_per_request']:.1f} -> "
                f"{e['after']['db_ms_per_request']:.1f}"
            )


if __name__ == "__main__":
    main()
