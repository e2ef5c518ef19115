"""What the demo benchmarks share: the demo's manage.py and psql, run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "demo"
FIXES = "*_pareto_*.py"  # the migrations `pareto fix --write` adds to demo/blog/migrations


def manage(env: dict[str, str], *args: str, capture: bool = False) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=DEMO, env=env, check=True, text=True,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
    )  # fmt: skip
    return done.stdout or ""


def psql(sql: str, dsn: str) -> None:
    subprocess.run(["psql", dsn, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True)


def demo_env(database_url: str, store_dir: str) -> dict[str, str]:
    """The environment of the planted demo on ``database_url``, its store in ``store_dir``."""
    env = {**os.environ, "DATABASE_URL": database_url, "PARETO_STORE": f"{store_dir}/store.sqlite3"}
    env.pop("DEMO_FIXED", None)
    return env


def seed_and_record(env: dict[str, str], scale: float, requests: int = 300) -> None:
    """Migrate and seed the demo at ``scale``, then record ``requests`` of its workload as
    run "before"; prints how long each took."""
    started = time.perf_counter()
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "seed", "--scale", str(scale))
    print(f"seeded scale {scale} in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    manage(env, "pareto", "record", "--workload", "workload.toml", "--requests", str(requests),
           "--run", "before", "--no-progress")  # fmt: skip
    print(f"recorded {requests} requests in {time.perf_counter() - started:.0f} s")
