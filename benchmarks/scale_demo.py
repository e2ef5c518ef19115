"""The demo under gunicorn with 1, 2 and 4 workers on PostgreSQL, before and after the
doctor's fixes: the throughput each worker count sustains within the latency objective,
and the Universal Scalability Law fitted to each side.

Seeds the demo into a PostgreSQL database, records a run of its workload, lets the doctor
prescribe (`pareto fix --allow-drop --write`: indexes and the copies of many-to-many
relations), clones the database (`CREATE DATABASE ... TEMPLATE`) into an "after" database
migrated with those fixes and served with the demo's code fixes (DEMO_FIXED=1). Then
`pareto scale` measures each side as a user runs it (`manage.py pareto scale --workers
1,2,4 --p95 200`), one after the other. Prints both tables, the ratios per worker count,
and writes a plot of both curves (`--plot`, default docs/img/scale_demo.svg).

    .venv/bin/python benchmarks/scale_demo.py                       # scale 1, ~10 minutes
    .venv/bin/python benchmarks/scale_demo.py --workers 1,2 --probe-seconds 2 --steps 3

On a 2-core machine the load generator, gunicorn and PostgreSQL share the cores: past 2
workers the machine's CPU is the bottleneck, which `pareto scale` says.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from demo_commands import DEMO, FIXES, REPO, demo_env, manage, psql, seed_and_record


def measure(env: dict[str, str], args: argparse.Namespace, out: Path) -> dict[str, Any]:
    manage(env, "pareto", "scale", "--workers", args.workers, "--workload", "workload.toml",
           "--p95", str(args.p95), "--probe-seconds", str(args.probe_seconds),
           "--steps", str(args.steps), "--json", str(out))  # fmt: skip
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def plot(sides: dict[str, dict[str, Any]], path: Path, p95: float) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.2))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for (side, data), color in zip(sides.items(), ("#c0392b", "#1e8449"), strict=False):
        points = [(p["workers"], p["throughput_rps"]) for p in data["points"]]
        axes.scatter(*zip(*points, strict=True), color=color, zorder=3, label=f"{side}: measured")
        if data.get("usl"):
            curve = [(n, x) for n, x in data["usl"]["curve"] if n <= 2 * max(p[0] for p in points)]
            axes.plot(*zip(*curve, strict=True), color=color, alpha=0.7,
                      label=f"{side}: USL fit")  # fmt: skip
    axes.set_xlabel("gunicorn workers")
    axes.set_ylabel(f"requests/s within p95 <= {p95:g} ms")
    axes.set_title("The demo on PostgreSQL, before and after the doctor's fixes")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


def report(sides: dict[str, dict[str, Any]]) -> None:
    before, after = sides["before"], sides["after"]
    print()
    print("| workers | before req/s | after req/s | after / before | before p95 ms | after p95 ms"
          " | before flat out | after flat out | bottleneck after |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for b, a in zip(before["points"], after["points"], strict=True):
        ratio = a["throughput_rps"] / b["throughput_rps"] if b["throughput_rps"] else float("inf")
        neck = (a.get("bottleneck") or {}).get("component", "-")
        print(f"| {b['workers']} | {b['throughput_rps']:.1f} | {a['throughput_rps']:.1f} | "
              f"{ratio:.2f}x | {b['p95_ms']:.0f} | {a['p95_ms']:.0f} | "
              f"{b['closed_loop_rps']:.1f} | {a['closed_loop_rps']:.1f} | {neck} |")  # fmt: skip
    for side, data in sides.items():
        usl = data.get("usl")
        if usl:
            peak = f"N* = {usl['peak_n']:.1f}" if usl.get("peak_n") else "no peak"
            print(f"{side}: λ = {usl['lambda']:.1f}/s, σ = {usl['sigma']:.3g}, "
                  f"κ = {usl['kappa']:.3g}, R² = {usl['r2']:.3f}, {peak}")  # fmt: skip
        else:
            print(f"{side}: no fit ({data.get('usl_error')})")
        neck = data.get("bottleneck")
        if neck:
            print(f"{side} bottleneck: {neck['verdict']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--p95", type=float, default=200.0)
    parser.add_argument("--probe-seconds", type=float, default=5.0)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--plot", type=Path, default=REPO / "docs" / "img" / "scale_demo.svg")
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    print(f"command: python benchmarks/scale_demo.py {' '.join(sys.argv[1:])}".rstrip())
    before_db, after_db = "pareto_bench_scale", "pareto_bench_scale_after"
    for db in (before_db, after_db):
        psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", f"{args.server}/postgres")
    psql(f"CREATE DATABASE {before_db}", f"{args.server}/postgres")
    migrations = DEMO / "blog" / "migrations"
    sides: dict[str, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = demo_env(f"{args.server}/{before_db}", tmp)
            seed_and_record(env, args.scale)
            manage(env, "pareto", "fix", "--run", "before", "--app", "blog", "--allow-drop",
                   "--write")  # fmt: skip
            written = sorted(p.name for p in migrations.glob(FIXES))
            print(f"the doctor's fixes: {', '.join(written) or 'none'}")
            psql(f"CREATE DATABASE {after_db} TEMPLATE {before_db}", f"{args.server}/postgres")
            after_env = {**env, "DEMO_FIXED": "1", "DATABASE_URL": f"{args.server}/{after_db}"}
            manage(after_env, "migrate", "blog", "--verbosity", "0")
            for db in (before_db, after_db):  # the backfill of the copies left dead rows
                psql("VACUUM FULL ANALYZE", f"{args.server}/{db}")
            for side, side_env in (("before", env), ("after", after_env)):
                started = time.perf_counter()
                sides[side] = measure(side_env, args, Path(tmp) / f"{side}.json")
                print(f"{side}: measured in {time.perf_counter() - started:.0f} s")
    finally:
        for path in migrations.glob(FIXES):
            path.unlink()
        for db in (before_db, after_db):
            psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", f"{args.server}/postgres")
    report(sides)
    plot(sides, args.plot, args.p95)
    print(f"plot: {args.plot.relative_to(REPO) if args.plot.is_relative_to(REPO) else args.plot}")


if __name__ == "__main__":
    main()
