"""The Python API. The ``pareto`` console script and ``manage.py pareto`` are thin layers over it.

from django_pareto import api
api.record("workload.toml", requests=2000, run="before")
data = api.report("before")          # the JSON report as a dict
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from django.conf import settings

from django_pareto import conf
from django_pareto.capture.health import snapshot
from django_pareto.capture.writer import get_writer, reset_writer
from django_pareto.checks import MIDDLEWARE_PATH
from django_pareto.doctor import Diagnosis, diagnose
from django_pareto.fix.plan import FixPlan
from django_pareto.report.build import build_report
from django_pareto.store import Store, StoreError, open_store
from django_pareto.store.records import RunInfo
from django_pareto.verify.replay import ReplayResult, replay
from django_pareto.verify.workload import load_workload

__all__ = [
    "NotARunOfRequests",
    "check_scale_name",
    "delete_run",
    "doctor",
    "is_scale_run",
    "latest_run",
    "prune",
    "record",
    "report",
    "report_html",
    "report_page",
    "runs",
    "save_scale",
    "scale_result",
    "store",
]


class RunExists(StoreError):
    pass


class NotARunOfRequests(StoreError):
    """A run kept by ``pareto scale`` was given where requests are read (doctor, compare)."""

    def __init__(self, run: str) -> None:
        super().__init__(f"run {run!r} is a pareto scale result, not a run of requests")
        self.run = run


def store() -> Store:
    return open_store()


def runs() -> list[RunInfo]:
    return store().runs()


def is_scale_run(run: RunInfo) -> bool:
    """Whether ``run`` is a ``pareto scale`` result kept by ``save_scale``: no requests."""
    return run.meta.get("source") == "scale"


def latest_run() -> str:
    """The newest run of requests (a kept ``pareto scale`` result has none to report)."""
    found = [info for info in runs() if not is_scale_run(info)]
    if not found:
        raise StoreError(
            f"{store().description} holds no runs yet; record one with "
            "`pareto record --workload FILE --requests N --run NAME`"
        )
    return found[-1].name


def delete_run(name: str) -> bool:
    return store().delete_run(name)


def _kept_scale(run: str) -> dict[str, Any] | None:
    """The result of run ``run`` if ``pareto scale`` made it, else None (also if no such run)."""
    found = store().run(run)
    if found is None or not is_scale_run(found):
        return None
    kept = found.meta.get("scale")
    if not isinstance(kept, dict):
        raise StoreError(f"run {run!r} was made by pareto scale but holds no result")
    return kept


def _of_requests(run: str) -> str:
    """``run``, unless it is a kept ``pareto scale`` result (NotARunOfRequests)."""
    found = store().run(run)
    if found is not None and is_scale_run(found):
        raise NotARunOfRequests(run)
    return run


def doctor(run: str | None = None) -> Diagnosis:
    """Run the analyzers over a recorded run; findings ranked by the time they would save."""
    return diagnose(store(), _of_requests(run) if run else latest_run())


def prune(older_than_days: float) -> int:
    """Delete requests older than ``older_than_days`` days (and runs left empty)."""
    return store().prune(time.time() - older_than_days * 86400)


def report(run: str | None = None, *, query_limit: int = 50) -> dict[str, Any]:
    """The report of ``run`` (default: the latest run of requests) as a dict.

    For a run kept by ``pareto scale`` it is that scalability result instead
    (``ScaleResult.to_json()``: ``data["kind"] == "scale"``): the run holds no requests.
    """
    run = run or latest_run()
    kept = _kept_scale(run)
    if kept is not None:
        return kept
    return build_report(store(), run, query_limit=query_limit)


def report_html(
    run: str | None = None,
    *,
    path: str | Path,
    compare: tuple[str, str] | None = None,
    scale: dict[str, Any] | None = None,
    query_limit: int = 50,
) -> Path:
    """Write the report of ``run`` as one self-contained HTML page, with the doctor's findings,
    and the comparison of the two runs ``compare`` when given. Returns the file written.

    ``run`` defaults to the second run of ``compare``, else to the latest run; ``scale``
    (a ``pareto scale`` result) to the newest one kept in the store, if any. The page of a
    run kept by ``pareto scale`` shows its scalability result alone (see ``report_page``).
    """
    html = report_page(run, compare=compare, scale=scale, query_limit=query_limit)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(html, encoding="utf-8")
    return target


def report_page(
    run: str | None = None,
    *,
    compare: tuple[str, str] | None = None,
    scale: dict[str, Any] | None = None,
    query_limit: int = 50,
) -> str:
    """The HTML page ``report_html`` writes, as a string.

    For a run kept by ``pareto scale`` the page has only its scalability section: there
    are no requests to report and nothing for the doctor to diagnose.
    """
    from django.db import DatabaseError

    from django_pareto.backends.base import UnsupportedDatabase
    from django_pareto.report.html import render_report_html, render_scale_html
    from django_pareto.verify.compare import compare_runs

    run = run or (compare[1] if compare else latest_run())
    comparison = (
        compare_runs(store(), _of_requests(compare[0]), _of_requests(compare[1]))
        if compare
        else None
    )
    kept = _kept_scale(run)
    if kept is not None:
        if comparison is not None:
            raise NotARunOfRequests(run)
        found = store().run(run)
        assert found is not None
        return render_scale_html(kept, run=found.name, created_at=found.created_at)
    data = report(run, query_limit=query_limit)
    scale = scale if scale is not None else scale_result()
    notes = []
    try:
        diagnosis: dict[str, Any] | None = doctor(run).to_dict()
    except (StoreError, UnsupportedDatabase, DatabaseError) as exc:
        # The numbers stand on their own: a doctor that cannot reach the database (it reads
        # its schema and plans) costs the page its findings, not the page.
        diagnosis = None
        notes.append(f"No findings: the doctor could not analyze run {run!r} ({exc}).")
    return render_report_html(data, diagnosis, comparison, scale, notes=notes)


def save_scale(run: str, result: dict[str, Any]) -> None:
    """Keep a ``pareto scale`` result (``ScaleResult.to_json()``) in the store as run ``run``
    (replacing an earlier scale result of that name, never a run of requests)."""
    check_scale_name(run)
    target = store()
    target.run_id(run, meta={"source": "scale"})
    target.update_meta(run, {"scale": result})


def check_scale_name(run: str) -> None:
    """Raise RunExists if ``run`` names a run of requests (before measuring for minutes)."""
    found = store().run(run)
    if found is not None and not is_scale_run(found):
        raise RunExists(
            f"run {run!r} is a run of requests: keep the scale result under another name"
        )


def scale_result(run: str | None = None) -> dict[str, Any] | None:
    """The ``pareto scale`` result kept as ``run``, or the newest one kept; None if none."""
    kept = [info for info in runs() if isinstance(info.meta.get("scale"), dict)]
    if run is not None:
        kept = [info for info in kept if info.name == run]
    if not kept:
        return None
    found: dict[str, Any] = max(kept, key=lambda info: info.created_at).meta["scale"]
    return found


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
            "workload_path": str(Path(workload).resolve()),
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


# -- fix and verify -------------------------------------------------------------------------
__all__ += ["compare", "fix", "verify"]


def fix(
    run: str | None = None,
    *,
    allow_drop: bool = False,
    app: str | None = None,
    vendor: str | None = None,
    only: Collection[str] | None = None,
) -> FixPlan:
    """The fix plan of a run: index migrations per app, code hints, what was skipped.

    ``only`` keeps the findings with these ids ("pareto.D001" or "D001"); ``vendor``
    defaults to the default database's; write the plan with
    ``django_pareto.fix.write_migrations(plan)``.
    """
    from django.db import connections

    from django_pareto.fix import plan_fixes

    return plan_fixes(
        doctor(run), vendor or connections["default"].vendor, allow_drop, app, only=only
    )


def compare(before: str, after: str) -> dict[str, Any]:
    """Two runs side by side, per endpoint and in total, with before/after ratios."""
    from django_pareto.verify.compare import compare_runs

    return compare_runs(store(), _of_requests(before), _of_requests(after))


def verify(
    before: str,
    *,
    apply: list[str],
    after: str,
    workload: str | Path | None = None,
    requests: int | None = None,
    replace: bool = False,
    alias: str = "default",
    on_request: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Apply migrations to a scratch copy of the database, replay the workload of run
    ``before`` there as run ``after``, and compare the two. The real database is untouched.
    """
    from django_pareto.verify.scratch import apply_migrations, scratch_database

    found = store().run(_of_requests(before))
    if found is None:
        raise StoreError(f"no run named {before!r} in {store().description}")
    if after == before or (store().run(after) is not None and not replace):
        # Checked before the copy is made, which can take a while on a big database.
        raise RunExists(f"run {after!r} already exists; pass --replace or pick another name")
    workload = workload or found.meta.get("workload_path")
    if not workload:
        raise StoreError(
            f"run {before!r} does not say which workload file it replayed: pass --workload FILE"
        )
    count = requests or int(found.meta.get("requests_sent") or found.requests)
    load_workload(workload)  # a bad file fails before the copy is made
    with scratch_database(alias):
        apply_migrations(apply, alias)
        record(
            workload,
            requests=count,
            run=after,
            seed=found.meta.get("seed"),
            replace=replace,
            on_request=on_request,
        )
    return compare(before, after)
