"""The Python API. The ``pareto`` console script and ``manage.py pareto`` are thin layers over it.

from django_pareto import api
api.record("workload.toml", requests=2000, run="before")
data = api.report("before")          # the JSON report as a dict
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from django_pareto import conf
from django_pareto.capture.health import snapshot
from django_pareto.capture.writer import get_writer, reset_writer
from django_pareto.checks import MIDDLEWARE_PATH
from django_pareto.doctor import Diagnosis, diagnose
from django_pareto.report.build import build_report
from django_pareto.store import Store, StoreError, open_store
from django_pareto.store.records import RunInfo
from django_pareto.verify.replay import ReplayResult, replay
from django_pareto.verify.workload import load_workload

__all__ = ["delete_run", "doctor", "latest_run", "prune", "record", "report", "runs", "store"]


class RunExists(StoreError):
    pass


def store() -> Store:
    return open_store()


def runs() -> list[RunInfo]:
    return store().runs()


def latest_run() -> str:
    found = runs()
    if not found:
        raise StoreError(
            f"{store().description} holds no runs yet; record one with "
            "`pareto record --workload FILE --requests N --run NAME`"
        )
    return found[-1].name


def delete_run(name: str) -> bool:
    return store().delete_run(name)


def doctor(run: str | None = None) -> Diagnosis:
    """Run the analyzers over a recorded run; findings ranked by the time they would save."""
    return diagnose(store(), run or latest_run())


def prune(older_than_days: float) -> int:
    """Delete requests older than ``older_than_days`` days (and runs left empty)."""
    return store().prune(time.time() - older_than_days * 86400)


def report(run: str | None = None, *, query_limit: int = 50) -> dict[str, Any]:
    return build_report(store(), run or latest_run(), query_limit=query_limit)


def record(
    workload: str | Path,
    *,
    requests: int,
    run: str,
    seed: int | None = None,
    replace: bool = False,
    append: bool = False,
    on_request: Callable[[], None] | None = None,
) -> ReplayResult:
    """Replay ``workload`` in-process and record it as run ``run``.

    An existing run is kept unless ``replace`` (delete it first) or ``append`` is given.
    """
    parsed = load_workload(workload)  # fail on a bad file before touching anything
    if MIDDLEWARE_PATH not in settings.MIDDLEWARE:
        raise StoreError(f"{MIDDLEWARE_PATH} is not in MIDDLEWARE: nothing would be recorded")
    target = store()
    if target.run(run) is not None:
        if replace:
            target.delete_run(run)
        elif not append:
            raise RunExists(
                f"run {run!r} already exists; pass --replace or --append, or pick another name"
            )
    target.run_id(run, meta={"source": "replay"})
    previous = conf.get()
    conf.override(dataclasses.replace(previous, RUN=run, ENABLED=True))
    reset_writer()
    faults_before = _fault_total()
    try:
        result = replay(parsed, requests, seed=seed, on_request=on_request)
        get_writer().flush()
    finally:
        reset_writer()
        conf.override(previous)
    target.update_meta(
        run,
        {
            "workload": parsed.name,
            "seed": parsed.seed if seed is None else seed,
            "requests_sent": result.requests,
            "wall_s": result.wall_s,
            "capture_faults": _fault_total() - faults_before,
        },
    )
    return result


def _fault_total() -> int:
    faults = snapshot()["faults"]
    assert isinstance(faults, dict)
    return sum(faults.values())
