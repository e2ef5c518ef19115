"""How `pareto doctor` (and `pareto report`) scale with the size of the store.

Seeds the demo site into a temporary SQLite database, records a base run of its workload,
then grows copies of that run to 250k, 500k and 1M query events by repeating its requests
(new request ids, same fingerprints and call sites: a long recording of the same site),
and times `pareto doctor --format json` and `pareto report --format json` on each copy in
a fresh process, reading the process's peak memory from the kernel (``wait4``).

    .venv/bin/python benchmarks/doctor_scale.py                       # ~3 minutes
    .venv/bin/python benchmarks/doctor_scale.py --events 50000 --base-requests 100   # smoke

Bar (docs/benchmarks.md): doctor over 1,000,000 query events in at most 30 s and 1 GB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "demo"


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=DEMO,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def grow(store: Path, run: str, target_events: int) -> int:
    """Repeat the run's requests (with new ids) until it holds ``target_events`` events."""
    db = sqlite3.connect(store)
    (run_id,) = db.execute("SELECT id FROM pareto_run WHERE name = ?", [run]).fetchone()
    base_events = db.execute(
        "SELECT SUM(q.calls) FROM pareto_query q JOIN pareto_request r ON r.id = q.request_id "
        "WHERE r.run_id = ?",
        [run_id],
    ).fetchone()[0]
    copies = max(0, -(-target_events // base_events) - 1)
    with db:
        db.execute(
            "CREATE TEMP TABLE base_request AS SELECT * FROM pareto_request WHERE run_id = ?",
            [run_id],
        )
        db.execute(
            "CREATE TEMP TABLE base_query AS SELECT q.* FROM pareto_query q "
            "JOIN base_request r ON r.id = q.request_id"
        )
        for k in range(1, copies + 1):
            # Request ids are random 63-bit numbers: copy k keeps their low 40 bits and
            # puts k above them, which keeps every copy's ids apart.
            shift = k * 2**41
            db.execute(
                "INSERT INTO pareto_request SELECT id % 1099511627776 + ?, run_id, endpoint,"
                " view_name, method, status, started_at + ?, duration_ms, db_ms, query_count,"
                " dropped_queries, sampled, weight FROM base_request",
                [shift, k * 3600.0],
            )
            db.execute(
                "INSERT INTO pareto_query SELECT request_id % 1099511627776 + ?,"
                " fingerprint_id, callsite_id, alias, first_seq, calls, total_ms, max_ms,"
                " distinct_params, max_repeats, params FROM base_query",
                [shift],
            )
    total = db.execute(
        "SELECT SUM(q.calls), COUNT(*) FROM pareto_query q JOIN pareto_request r "
        "ON r.id = q.request_id WHERE r.run_id = ?",
        [run_id],
    ).fetchone()
    db.close()
    return int(total[0])


def timed(env: dict[str, str], *args: str) -> tuple[float, float]:
    """Seconds and peak resident memory (MiB) of ``manage.py pareto ARGS`` in a new process."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "pareto", *args],
        cwd=DEMO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"pareto {' '.join(args)} failed: {proc.stderr.read().decode()[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--events",
        default="250000,500000,1000000",
        help="comma-separated store sizes in query events",
    )
    parser.add_argument("--base-requests", type=int, default=400)
    parser.add_argument("--scale", type=float, default=0.5, help="demo seed scale")
    args = parser.parse_args()
    targets = [int(x) for x in args.events.split(",")]
    print(f"command: python benchmarks/doctor_scale.py {' '.join(sys.argv[1:])}".rstrip())
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp}/demo.sqlite3",
            "PARETO_STORE": f"{tmp}/base.sqlite3",
        }
        started = time.perf_counter()
        manage(env, "migrate", "--verbosity", "0")
        manage(env, "seed", "--scale", str(args.scale))
        manage(
            env,
            "pareto",
            "record",
            "--workload",
            "workload.toml",
            "--requests",
            str(args.base_requests),
            "--run",
            "base",
            "--no-progress",
        )
        print(
            f"seeded (scale {args.scale}) and recorded {args.base_requests} base requests "
            f"in {time.perf_counter() - started:.0f} s"
        )
        print(
            "| query events | stored rows | doctor s | doctor peak MiB "
            "| report s | report peak MiB |"
        )
        print("|---:|---:|---:|---:|---:|---:|")
        for target in targets:
            store = Path(tmp) / f"store-{target}.sqlite3"
            shutil.copy(Path(tmp) / "base.sqlite3", store)
            events = grow(store, "base", target)
            rows = sqlite3.connect(store).execute("SELECT COUNT(*) FROM pareto_query").fetchone()[0]
            run_env = {**env, "PARETO_STORE": str(store)}
            doctor_s, doctor_mb = timed(run_env, "doctor", "--run", "base", "--format", "json")
            report_s, report_mb = timed(run_env, "report", "--run", "base", "--format", "json")
            print(
                f"| {events:,} | {rows:,} | {doctor_s:.1f} | {doctor_mb:.0f} | "
                f"{report_s:.1f} | {report_mb:.0f} |",
                flush=True,
            )
            store.unlink()


if __name__ == "__main__":
    main()
