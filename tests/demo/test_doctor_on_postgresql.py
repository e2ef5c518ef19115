"""The doctor on the demo site served from PostgreSQL (HypoPG verification, functional
indexes), run like a user would: manage.py commands against a database of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

DEMO = Path(__file__).resolve().parents[2] / "demo"
DATABASE = "pareto_demo_doctor_test"


def admin(sql: str) -> None:
    import psycopg

    dsn = settings.PG_DSN  # type: ignore[misc]
    with psycopg.connect(
        host=dsn["HOST"], port=dsn["PORT"], user=dsn["USER"], password=dsn["PASSWORD"],
        dbname="postgres", autocommit=True,
    ) as conn:  # fmt: skip
        conn.execute(sql)


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=DEMO, env=env, capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    if "postgres" not in settings.DATABASES:
        from tests.services import skip_or_fail

        skip_or_fail("PostgreSQL is not reachable at PGHOST:PGPORT (default 127.0.0.1:5432)")
    dsn = settings.PG_DSN  # type: ignore[misc]
    admin(f"DROP DATABASE IF EXISTS {DATABASE}")
    admin(f"CREATE DATABASE {DATABASE}")
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{dsn['USER']}:{dsn['PASSWORD']}@{dsn['HOST']}:{dsn['PORT']}/{DATABASE}",
        "PARETO_STORE": str(tmp_path_factory.mktemp("store") / "store.sqlite3"),
        "DJANGO_SETTINGS_MODULE": "demosite.settings",  # not the tests' settings
    }
    try:
        manage(env, "migrate", "--verbosity", "0")
        manage(env, "seed", "--scale", "0.25", "--seed", "3")
        manage(env, "pareto", "record", "--workload", "workload.toml", "--requests", "200",
               "--run", "before", "--no-progress")  # fmt: skip
        yield env
    finally:
        admin(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


@pytest.fixture(scope="module")
def findings(demo_env: dict[str, str]) -> list[dict[str, Any]]:
    report = manage(demo_env, "pareto", "doctor", "--run", "before", "--format", "json")
    findings: list[dict[str, Any]] = json.loads(report)["findings"]
    return findings


def test_fix_and_verify_prove_the_gain_on_a_scratch_copy(
    demo_env: dict[str, str], findings: list[dict[str, Any]]
) -> None:
    migrations = DEMO / "blog" / "migrations"
    try:
        manage(demo_env, "pareto", "fix", "--run", "before", "--app", "blog", "--write")
        (written,) = migrations.glob("*_pareto_*.py")
        manage({**demo_env, "DEMO_FIXED": "1"}, "pareto", "verify", "--run", "before",
               "--apply", str(written), "--as", "after")  # fmt: skip
    finally:
        for path in migrations.glob("*_pareto_*.py"):
            path.unlink()
    data = json.loads(manage(demo_env, "pareto", "compare", "before", "after", "--format", "json"))
    total = data["total"]
    assert total["before"]["requests"] == total["after"]["requests"] == 200
    assert total["ratio"]["queries_per_request"] > 3
    # The real database was not migrated: only the scratch copy got the new index.
    import psycopg

    dsn = settings.PG_DSN  # type: ignore[misc]
    with psycopg.connect(host=dsn["HOST"], port=dsn["PORT"], user=dsn["USER"],
                         password=dsn["PASSWORD"], dbname=DATABASE) as conn:  # fmt: skip
        names = {r[0] for r in conn.execute("SELECT name FROM django_migrations")}
    assert not any("pareto" in name for name in names)


def test_n_plus_ones_and_repeats(findings: list[dict[str, Any]]) -> None:
    objs = {(f["id"], f["obj"]) for f in findings}
    for obj in ("blog.Article.author", "auth.User.profile", "blog.Article.tags"):
        assert ("pareto.N001", obj) in objs  # P1, P2, P4
    assert ("pareto.N002", "blog.Tag") in objs  # P8


def test_indexes_are_verified_with_hypopg(findings: list[dict[str, Any]]) -> None:
    added = {
        (f["fix"]["add_index"]["table"], tuple(f["fix"]["add_index"]["fields"]))
        for f in findings
        if f["id"] == "pareto.I001"
    }
    assert ("blog_article", ("-published_at",)) in added  # P9
    assert not any(t == "blog_category" for t, _ in added)  # D1
    assert ("blog_article", ("is_published",)) not in added  # D2
    assert ("blog_article", ("slug",)) not in added  # D3
    p9 = next(f for f in findings if f["id"] == "pareto.I001"
              and f["fix"]["add_index"]["fields"] == ["-published_at"])  # fmt: skip
    assert "hypopg" in json.dumps(p9["evidence"]).lower()


def test_unused_indexes_on_the_log_table(findings: list[dict[str, Any]]) -> None:
    removed = {f["fix"]["remove_index"]["name"] for f in findings if f["id"] == "pareto.X002"}
    assert {"blog_pv_referrer_idx", "blog_pv_ip_created_idx"} <= removed  # P22, P21
