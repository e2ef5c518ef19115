"""The demo site, migrated into a temporary SQLite database, for the tests that serve it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "demo"
SETTINGS = "demosite.settings"


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo site's environment: a migrated SQLite database and a store in a tmp dir
    (never the repository's demo/ folder)."""
    base = tmp_path_factory.mktemp("serve")
    env = {
        "DATABASE_URL": f"sqlite:///{base / 'demo.sqlite3'}",
        "PARETO_STORE": str(base / "pareto.sqlite3"),
        "DJANGO_SETTINGS_MODULE": SETTINGS,
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        cwd=DEMO,
        env={**os.environ, **env},
        check=True,
        timeout=120,
    )
    return env
