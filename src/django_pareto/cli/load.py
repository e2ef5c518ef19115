"""``pareto load``, ``pareto serve`` and ``pareto scale``: drive a deployed site."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

PLAN_SIZE = 2000  # distinct requests drawn (each login a session to mint); cycled through


def _plan_source(workload: str | None, from_run: str | None) -> Any:
    """(workload, seed) of ``--workload FILE`` or ``--from-run NAME`` (exactly one)."""
    from django_pareto import api
    from django_pareto.load.plan import workload_from_run
    from django_pareto.verify.workload import load_workload

    if bool(workload) == bool(from_run):
        raise click.UsageError("give exactly one of --workload FILE and --from-run NAME")
    if workload:
        return load_workload(workload), None
    return workload_from_run(api.store(), from_run or "")


def _write_json(path: str, data: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(data, indent=2))
    click.echo(f"wrote {path}", err=True)


@click.command()
@click.argument("url")
@click.option("--workload", type=click.Path(dir_okay=False), help="Workload file (TOML).")
@click.option("--from-run", help="Replay the workload a recorded run was made from.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True),
              help="Open loop: requests per second to start (default: closed loop).")  # fmt: skip
@click.option("--arrival", type=click.Choice(["constant", "poisson"]), default="constant",
              show_default=True, help="Open loop: how starts are spaced.")  # fmt: skip
@click.option("--users", type=click.IntRange(1), default=16, show_default=True,
              help="Concurrent users (closed loop), or the connection pool (open).")  # fmt: skip
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=10.0,
              show_default=True, help="Seconds measured (at most).")  # fmt: skip
@click.option("--requests", "max_requests", type=click.IntRange(1),
              help="Stop after this many measured requests.")  # fmt: skip
@click.option("--warmup", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Seconds sent first and not measured.")  # fmt: skip
@click.option("--processes", type=click.IntRange(0), default=0, show_default=True,
              help="Generator processes (0: one per core).")  # fmt: skip
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0,
              show_default=True, help="Seconds before a request counts as failed.")  # fmt: skip
@click.option("--seed", type=int, default=None, help="Random seed (default: the workload's).")
@click.option("--allow-remote", is_flag=True, help="Allow a target that is not loopback.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False),
              help="Also write the result as JSON.")  # fmt: skip
@click.option("--export-locust", type=click.Path(dir_okay=False),
              help="Write a locustfile of the same workload instead of running.")  # fmt: skip
@click.option("--progress/--no-progress", default=True, show_default=True)
def load(url: str, workload: str | None, from_run: str | None, rate: float | None,
         arrival: str, users: int, duration: float, max_requests: int | None, warmup: float,
         processes: int, timeout: float, seed: int | None, allow_remote: bool,
         json_path: str | None, export_locust: str | None, progress: bool) -> None:  # fmt: skip
    """Load a running site with a workload: throughput, latency (corrected for coordinated
    omission), errors, and where the time goes (Server-Timing).

    Example: pareto load http://127.0.0.1:8000/ --workload workload.toml --rate 200
    """
    from django_pareto.load.engine import run_load
    from django_pareto.load.locust_export import export_locustfile
    from django_pareto.load.model import LoadConfig, parse_target
    from django_pareto.load.plan import Credentials, build_plan
    from django_pareto.report.load import LiveProgress, render_load

    target = parse_target(url, allow_remote=allow_remote)
    parsed, run_seed = _plan_source(workload, from_run)
    seed = seed if seed is not None else run_seed
    credentials = Credentials()
    if export_locust:
        click.echo(export_locustfile(parsed, export_locust, target, seed=seed,
                                     credentials=credentials))  # fmt: skip
        return
    try:
        plan = build_plan(parsed, target, min(PLAN_SIZE, max_requests or PLAN_SIZE), seed,
                          credentials=credentials)  # fmt: skip
        config = LoadConfig(
            target=target, requests=plan, mode="open" if rate else "closed", rate=rate,
            arrival=arrival, connections=users, duration=duration,  # type: ignore[arg-type]
            max_requests=max_requests, warmup=warmup, processes=processes, timeout=timeout,
            seed=seed or 0,
        )  # fmt: skip
        with LiveProgress(progress, warmup + duration) as live:
            result = run_load(config, live)
    finally:
        credentials.revoke()  # the sessions minted for the test are not left behind
    render_load(result)
    if json_path:
        _write_json(json_path, result.to_json())


def _site_dir() -> Path:
    """The project's directory: ``pareto --pythonpath DIR``, else the current one."""
    given = click.get_current_context().find_root().params.get("pythonpath")
    return Path(given or os.getcwd()).resolve()


@click.command()
@click.option("--workers", type=click.IntRange(1), default=2, show_default=True)
@click.option("--worker-class", type=click.Choice(["sync", "gthread"]), default="sync",
              show_default=True)  # fmt: skip
@click.option("--threads", type=click.IntRange(1), default=1, show_default=True,
              help="Threads per gthread worker.")  # fmt: skip
@click.option("--nginx", is_flag=True, help="Put a private nginx in front (keep-alive upstream).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: a free one).")
@click.option("--access-log", is_flag=True, help="Log every request (gunicorn's access log).")
def serve(workers: int, worker_class: str, threads: int, nginx: bool, port: int | None,
          access_log: bool) -> None:  # fmt: skip
    """Serve this project under gunicorn on loopback, optionally behind nginx, until Ctrl-C.

    Example: pareto --settings mysite.settings serve --workers 4 --nginx --port 8000
    """
    from django_pareto.load.serve import serve_forever

    serve_forever(_site_dir(), workers=workers, worker_class=worker_class,
                  threads=threads, nginx=nginx, port=port, access_log=access_log,
                  echo=click.echo)  # fmt: skip


def _workers(value: str) -> Sequence[int]:
    try:
        counts = sorted({int(v) for v in value.split(",") if v.strip()})
    except ValueError:
        raise click.BadParameter(f"{value!r}: a comma-separated list such as 1,2,4") from None
    if not counts or counts[0] < 1:
        raise click.BadParameter(f"{value!r}: worker counts are integers >= 1")
    return counts


@click.command()
@click.option("--workers", "workers_text", default="1,2,4", show_default=True,
              help="Worker counts to measure, e.g. 1,2,4,8.")  # fmt: skip
@click.option("--workload", type=click.Path(dir_okay=False), help="Workload file (TOML).")
@click.option("--from-run", help="Use the workload a recorded run was made from.")
@click.option("--p95", "p95_ms", type=click.FloatRange(min=0, min_open=True), default=200.0,
              show_default=True, help="The latency objective: p95 at most, ms.")  # fmt: skip
@click.option("--probe-seconds", type=click.FloatRange(min=0.5), default=5.0, show_default=True)
@click.option("--steps", type=click.IntRange(1), default=5, show_default=True,
              help="Open-loop probes per worker count.")  # fmt: skip
@click.option("--nginx", is_flag=True, help="Put a private nginx in front.")
@click.option("--processes", type=click.IntRange(1), default=1, show_default=True,
              help="Generator processes.")  # fmt: skip
@click.option("--seed", type=int, default=None)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write JSON.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Write the curve as SVG or PNG.")  # fmt: skip
@click.option("--run", "run_name", help="Keep the result in the store as this run.")
def scale(workers_text: str, workload: str | None, from_run: str | None, p95_ms: float,
          probe_seconds: float, steps: int, nginx: bool, processes: int, seed: int | None,
          json_path: str | None, plot_path: str | None, run_name: str | None) -> None:  # fmt: skip
    """Measure the site's capacity at each worker count within a latency objective, fit the
    Universal Scalability Law, and name the component that saturates.

    Example: pareto scale --workers 1,2,4 --workload workload.toml --p95 200 --plot scale.svg
    """
    from django_pareto import api
    from django_pareto.load.plan import Credentials, build_plan
    from django_pareto.load.scale import ScaleSettings, run_scale
    from django_pareto.load.search import Objective
    from django_pareto.load.usl import plot_usl
    from django_pareto.report.load import render_scale

    if run_name:
        api.check_scale_name(run_name)
    parsed, run_seed = _plan_source(workload, from_run)
    seed = seed if seed is not None else run_seed
    settings = ScaleSettings(workers=_workers(workers_text), objective=Objective(p95_ms),
                             probe_seconds=probe_seconds, steps=steps, nginx=nginx,
                             processes=processes)  # fmt: skip
    credentials = Credentials()
    try:
        result = run_scale(
            _site_dir(),
            lambda target: build_plan(parsed, target, PLAN_SIZE, seed, credentials=credentials),
            settings,
            on_probe=lambda line: click.echo(line, err=True),
        )
    finally:
        credentials.revoke()
    data = result.to_json()
    render_scale(data)
    if json_path:
        _write_json(json_path, data)
    if plot_path and result.usl is not None:
        click.echo(f"wrote {plot_usl(result.usl, result.measured(), plot_path)}", err=True)
    if run_name:
        api.save_scale(run_name, data)
        click.echo(f"kept as run {run_name!r}", err=True)
