"""What the demo benchmarks share: the demo's manage.py and psql, run as a user would."""

from __future__ import annotations

import subprocess
import sys
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
