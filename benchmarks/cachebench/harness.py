"""Running implementations side by side: databases, Redis dbs, worker processes.

The orchestrator (the benchmark script's main process) never sets Django up: it creates a
PostgreSQL database for the run and, per implementation, starts the same script with
``--worker`` under that implementation's settings module; that process forks one child
per job (writer, reader, ...), all starting at the same instant, and reports what they
return (see ``run_pool``).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parent.parent
REPO = BENCHMARKS.parent

RESULT = "CACHEBENCH-RESULT "


# --------------------------------------------------------------------------- implementations


@dataclass(frozen=True)
class Impl:
    """An implementation under test: a settings module for its worker processes.

    ``hook`` ("module:function") is called in every worker right after ``django.setup()``;
    the test suite uses it to install a deliberately broken cache.
    """

    name: str
    settings: str
    label: str
    hook: str | None = None


IMPLS: dict[str, Impl] = {
    "none": Impl("none", "cachebench.settings.none", "no cache (control)"),
    # ---------------------------------------------------------------- PLUG-IN POINT
    # django_pareto.querycache ("ours"). Its settings are cachebench/settings/ours.py
    # and its adapters (disabled(), invalidate_all(), stats()) are in
    # cachebench/impls.py. ``available()`` below leaves it out of a run, with a note,
    # while ``import django_pareto.querycache.apps`` fails.
    "ours": Impl("ours", "cachebench.settings.ours", "django-pareto querycache"),
    # ---------------------------------------------------------------- end of plug-in point
    "cachalot": Impl("cachalot", "cachebench.settings.cachalot", "django-cachalot"),
    "cacheops": Impl("cacheops", "cachebench.settings.cacheops", "django-cacheops"),
}

# The Redis db of each implementation, as an offset from --redis-db (the bookkeeping db:
# versions published by the writers, never cached by anyone).
REDIS_DB_OFFSET = {"none": 1, "ours": 2, "cachalot": 3, "cacheops": 4}


def label(name: str) -> str:
    return IMPLS[name].label if name in IMPLS else name


def available(impl: Impl) -> str | None:
    """None when the implementation can run here, else why not: Django must set up with
    its settings (its app importable and ready). Checked in a subprocess, since loading
    cachalot or cacheops patches the ORM of the process that loads it."""
    env = worker_env({"DJANGO_SETTINGS_MODULE": impl.settings})
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode == 0:
        return None
    last = (done.stderr.strip().splitlines() or ["?"])[-1]
    return f"Django does not set up with {impl.settings}: {last}"


def select(names: Iterable[str]) -> tuple[list[Impl], list[str]]:
    """The implementations that can run, and a note for each one left out."""
    impls, notes = [], []
    for name in names:
        if name not in IMPLS:
            raise SystemExit(f"unknown implementation {name!r}; known: {', '.join(IMPLS)}")
        why = available(IMPLS[name])
        if why is None:
            impls.append(IMPLS[name])
        else:
            notes.append(f"{name}: left out, {why}")
    return impls, notes


# --------------------------------------------------------------------------- services


@dataclass(frozen=True)
class Services:
    """Where PostgreSQL and Redis are, and which Redis dbs a run may use."""

    pg_host: str = "127.0.0.1"
    pg_port: str = "5432"
    pg_user: str = "postgres"
    pg_password: str = ""
    redis: str = "redis://127.0.0.1:6379"  # without a db number
    redis_db: int = 10  # bookkeeping; implementation i uses redis_db + REDIS_DB_OFFSET
    # Benchmarks own their Redis dbs and flush them; the test suite shares one db with
    # other tests and only deletes the keys of its own prefix.
    flush: bool = True
    shared_db: int | None = None  # every implementation and the bookkeeping in this db

    def redis_url(self, impl: str | None) -> str:
        if self.shared_db is not None:
            return f"{self.redis}/{self.shared_db}"
        offset = 0 if impl is None else REDIS_DB_OFFSET.get(impl, 5)
        return f"{self.redis}/{self.redis_db + offset}"

    def pg_conninfo(self, dbname: str) -> str:
        parts = {
            "host": self.pg_host,
            "port": self.pg_port,
            "user": self.pg_user,
            "password": self.pg_password,
            "dbname": dbname,
        }
        return " ".join(f"{k}={v}" for k, v in parts.items() if v)


def services_from_env() -> Services:
    """PGHOST/PGPORT/PGUSER/PGPASSWORD like the test suite; Redis on localhost."""
    return Services(
        pg_host=os.environ.get("PGHOST", "127.0.0.1"),
        pg_port=os.environ.get("PGPORT", "5432"),
        pg_user=os.environ.get("PGUSER", "postgres"),
        pg_password=os.environ.get("PGPASSWORD", ""),
    )


def pg_execute(services: Services, dbname: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(services.pg_conninfo(dbname), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.encode())


@contextmanager
def scratch_database(services: Services, name: str) -> Iterator[str]:
    """A PostgreSQL database of the run's own, dropped at the end whatever happens."""
    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    pg_execute(services, "postgres", drop, f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        pg_execute(services, "postgres", drop)


def clear_redis(services: Services, impl: str | None, prefix: str) -> None:
    """Empty an implementation's cache before a run: its whole db when the benchmark
    owns it, else the keys under the run's prefix (the test suite's shared db)."""
    import redis

    client = redis.Redis.from_url(services.redis_url(impl))
    try:
        if services.flush and services.shared_db is None:
            client.flushdb()
            return
        batch = []
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)
    finally:
        client.close()


# --------------------------------------------------------------------------- workers


def worker_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of a worker: benchmarks/ and the repository root importable."""
    env = dict(os.environ)
    path = [str(BENCHMARKS), str(REPO)]
    if env.get("PYTHONPATH"):
        path.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(path)
    env.update(extra)
    return env


@dataclass
class Job:
    """One worker process: a role (a function of the script) and its arguments."""

    role: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunPlace:
    """What every worker of a run shares: the script, the database, the Redis layout."""

    script: Path
    services: Services
    database: str
    prefix: str  # unique to the run: cache keys and bookkeeping keys start with it


def _env_for(place: RunPlace, impl: Impl) -> dict[str, str]:
    s = place.services
    return worker_env(
        {
            "DJANGO_SETTINGS_MODULE": impl.settings,
            "CACHEBENCH_DB_NAME": place.database,
            "CACHEBENCH_DB_HOST": s.pg_host,
            "CACHEBENCH_DB_PORT": s.pg_port,
            "CACHEBENCH_DB_USER": s.pg_user,
            "CACHEBENCH_DB_PASSWORD": s.pg_password,
            "CACHEBENCH_REDIS_URL": s.redis_url(impl.name),
            "CACHEBENCH_KEY_PREFIX": f"{place.prefix}:{impl.name}",
        }
    )


def run_pool(
    place: RunPlace,
    impl: Impl,
    jobs: Sequence[Job],
    *,
    seconds: float = 0.0,
    then: Sequence[Job] = (),
    pause: float = 0.0,
    timeout: float = 600.0,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run ``jobs`` side by side, each in a process of its own with ``impl``'s settings,
    for ``seconds``; once all have finished and after ``pause``, run ``then`` the same
    way. Returns their results, in order.

    One subprocess sets Django up with the implementation's settings (and its hook),
    then forks one child per job: the children start together, none of them pays for
    Django's start-up, and each has its own database connection and in-process state
    (nothing is connected before the fork)."""
    payload = {
        "impl": impl.name,
        "hook": impl.hook,
        "bookkeeping": place.services.redis_url(None),
        "prefix": place.prefix,
        "conninfo": place.services.pg_conninfo(place.database),
        "jobs": [[j.role, j.args] for j in jobs],
        "then": [[j.role, j.args] for j in then],
        "seconds": seconds,
        "pause": pause,
    }
    done = subprocess.run(
        [sys.executable, str(place.script), "--worker", json.dumps(payload)],
        stdout=subprocess.PIPE,
        text=True,
        env=_env_for(place, impl),
        cwd=REPO,
        timeout=timeout,
        check=False,
    )
    result = None
    for line in done.stdout.splitlines():
        if line.startswith(RESULT):
            result = json.loads(line[len(RESULT) :])
        else:
            print(line)  # anything else the workers print goes through
    if done.returncode != 0 or result is None:
        raise RuntimeError(
            f"the {impl.name} workers failed (exit code {done.returncode}; stderr above)"
        )
    return result["jobs"], result["then"]


def run_one(place: RunPlace, impl: Impl, job: Job) -> dict[str, Any]:
    return run_pool(place, impl, [job])[0][0]


# --------------------------------------------------------------------------- worker side

# A role: (its arguments merged into the run's common ones, start time, deadline) -> result
Role = Callable[[dict[str, Any], float, float], dict[str, Any]]
START_DELAY_S = 0.3  # children are forked in milliseconds; they all begin at the same time


def worker_main(payload_json: str, roles: Mapping[str, Role]) -> None:
    """The subprocess: Django set up, the implementation's hook run, then the jobs
    forked (see ``run_pool``); prints the results as one line."""
    import django

    payload: dict[str, Any] = json.loads(payload_json)
    django.setup()
    hook = payload.get("hook")
    if hook:
        import importlib

        module, function = hook.split(":")
        getattr(importlib.import_module(module), function)()
    common = {k: v for k, v in payload.items() if k not in ("jobs", "then")}
    results = _fork_all(payload["jobs"], common, roles, payload["seconds"])
    time.sleep(payload["pause"])
    then = _fork_all(payload["then"], common, roles, 0.0)
    print(RESULT + json.dumps({"jobs": results, "then": then}), flush=True)


def _fork_all(
    jobs: list[list[Any]], common: dict[str, Any], roles: Mapping[str, Role], seconds: float
) -> list[dict[str, Any]]:
    import tempfile
    import traceback

    if not jobs:
        return []
    t0 = time.time() + START_DELAY_S
    deadline = t0 + seconds
    with tempfile.TemporaryDirectory(prefix="cachebench-") as tmp:
        pids = []
        for i, (role, args) in enumerate(jobs):
            out = Path(tmp) / f"{i}.json"
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:  # the child: run the role, write its result, leave at once
                code = 1
                try:
                    time.sleep(max(0.0, t0 - time.time()))
                    result = roles[role]({**common, **args}, t0, deadline)
                    out.write_text(json.dumps(result))
                    code = 0
                except BaseException:
                    traceback.print_exc()
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(code)
            pids.append((pid, out, role))
        results: list[dict[str, Any]] = []
        failed = []
        for pid, out, role in pids:
            _, status = os.waitpid(pid, 0)
            if os.waitstatus_to_exitcode(status) != 0 or not out.exists():
                failed.append(role)
                results.append({})
            else:
                results.append(json.loads(out.read_text()))
        if failed:
            raise SystemExit(f"worker(s) failed: {', '.join(failed)}")
        return results


class QueryCounter:
    """An execute wrapper counting the statements that reach the database: a read that
    sent none was served by the cache (a hit), whatever the implementation."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)

    def install(self) -> None:
        from django.db import connection

        connection.execute_wrappers.append(self)


# --------------------------------------------------------------------------- reporting


def _version_of(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def environment(title: str, services: Services) -> list[str]:
    import django
    import psycopg
    import redis

    with psycopg.connect(services.pg_conninfo("postgres")) as conn:
        row = conn.execute(b"SHOW server_version").fetchone()
        pg = row[0] if row else "?"
    client = redis.Redis.from_url(services.redis_url(None))
    try:
        info: dict[str, Any] = client.info("server")
    finally:
        client.close()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return [
        f"# {title}, {time.strftime('%Y-%m-%d %H:%M %Z')}",
        "command: "
        + " ".join([Path(sys.executable).name, *[str(a) for a in sys.argv]]).replace(
            str(REPO) + "/", ""
        ),
        f"python {platform.python_version()}, django {django.get_version()}, "
        f"postgresql {pg}, redis {info.get('redis_version', '?')}, "
        f"psycopg {psycopg.__version__}, redis-py {redis.__version__}, "
        f"django-cachalot {_version_of('django-cachalot')}, "
        f"django-cacheops {_version_of('django-cacheops')}, "
        f"django-pareto {_version_of('django-pareto')}",
        f"machine: {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
    ]


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str) -> str:
    """A Markdown table; ``align`` has one letter per column, l or r."""
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---" if a == "l" else "---:" for a in align) + "|")
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
