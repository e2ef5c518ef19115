"""``pareto``: record a workload, report where the time goes, manage runs.

Each command is a thin layer over ``django_pareto.api``; its docstring is its --help.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import click
from rich.table import Table

from django_pareto.cli.denorm import denorm
from django_pareto.cli.load import load, scale, serve
from django_pareto.cli.progress import progress_bar
from django_pareto.cli.setup import configure_django
from django_pareto.report.console import make_console


class ParetoGroup(click.Group):
    """Turns the toolkit's expected errors into a clear message and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        from django_pareto.fix import FixError
        from django_pareto.load.model import LoadError
        from django_pareto.store.base import StoreError
        from django_pareto.verify.scratch import ScratchError
        from django_pareto.verify.workload import WorkloadError

        try:
            return super().invoke(ctx)
        except (StoreError, WorkloadError, FixError, ScratchError, LoadError) as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=ParetoGroup)
@click.option("--settings", "settings_module", help="Django settings module, e.g. mysite.settings.")
@click.option("--pythonpath", help="Directory of the Django project (default: the current one).")
@click.pass_context
def cli(ctx: click.Context, settings_module: str | None, pythonpath: str | None) -> None:
    """Measure a Django site and rank where its time goes.

    Example: pareto record --workload workload.toml --requests 2000 --run before
    """
    if not (ctx.obj or {}).get("django_ready"):
        configure_django(settings_module, pythonpath)


@cli.command()
@click.option(
    "--workload",
    "workload_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Workload file (TOML, see docs/workloads.md).",
)
@click.option(
    "--requests",
    "count",
    default=1000,
    show_default=True,
    type=click.IntRange(1),
    help="Number of requests to send.",
)
@click.option("--run", "run_name", required=True, help="Name of the run to record into.")
@click.option("--seed", type=int, default=None, help="Random seed (default: the workload's).")
@click.option("--replace", is_flag=True, help="Delete an existing run of that name first.")
@click.option("--append", is_flag=True, help="Add to an existing run of that name.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def record(
    workload_path: str,
    count: int,
    run_name: str,
    seed: int | None,
    replace: bool,
    append: bool,
    progress: bool,
) -> None:
    """Replay a workload in-process through the site and record it as a run.

    Example: pareto record --workload workload.toml --requests 2000 --run before
    """
    from django_pareto import api

    with progress_bar("recording [b]{task.description}", progress) as bar:
        task = bar.add_task(run_name, total=count)
        result = api.record(
            workload_path,
            requests=count,
            run=run_name,
            seed=seed,
            replace=replace,
            append=append,
            on_request=lambda: bar.advance(task),
        )
    statuses = ", ".join(f"{s}: {n}" for s, n in sorted(result.statuses.items()))
    click.echo(
        f"Recorded {result.requests} requests in {result.wall_s:.1f} s into run "
        f"{run_name!r} ({statuses})."
    )
    for name, n in result.unexpected.most_common():
        click.echo(
            f"  {n} unexpected responses for {name!r}, e.g. {result.examples[name]}", err=True
        )


@cli.command()
@click.option("--run", "run_name", default=None, help="Run to report on (default: the latest).")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--limit",
    default=50,
    show_default=True,
    type=click.IntRange(1),
    help="Query fingerprints to include.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write a self-contained HTML page (charts, findings) to this file; print its path.",
)
@click.option(
    "--compare",
    "compared",
    nargs=2,
    metavar="RUN_A RUN_B",
    default=None,
    help="With --html: add RUN_A and RUN_B side by side (--run defaults to RUN_B).",
)
def report(
    run_name: str | None,
    fmt: str,
    limit: int,
    html_path: str | None,
    compared: tuple[str, str] | None,
) -> None:
    """Where the time of a run goes: summary, Pareto of endpoints and queries, bottleneck.

    A run kept by `pareto scale --run NAME` shows its scalability result instead.

    \b
    Examples:
    pareto report --run before --format json
    pareto report --html report.html --compare before after
    """
    from django_pareto import api
    from django_pareto.report.terminal import render

    if html_path is not None:
        written = api.report_html(run_name, path=html_path, compare=compared, query_limit=limit)
        click.echo(str(written.resolve()))
        return
    if compared:
        raise click.UsageError("--compare goes with --html; for a table: pareto compare A B")
    data = api.report(run_name, query_limit=limit)
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
    elif data.get("kind") == "scale":  # a run kept by `pareto scale`
        from django_pareto.report.load import render_scale

        render_scale(data)
    else:
        render(data)


@cli.command()
@click.option("--run", "run_name", default=None, help="Run to diagnose (default: the latest).")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def doctor(run_name: str | None, fmt: str) -> None:
    """Find what slows the database down in a run, with the evidence and the fix for each.

    Example: pareto doctor --run before --format json
    """
    from django_pareto import api
    from django_pareto.report.findings import render_diagnosis

    data = api.doctor(run_name).to_dict()
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        render_diagnosis(data)


@cli.group()
def runs() -> None:
    """List, show and delete recorded runs."""


@runs.command("list")
def runs_list() -> None:
    """List the runs in the store, oldest first.

    Example: pareto runs list
    """
    from django_pareto import api

    table = Table("run", "created (UTC)", "requests", "faults", "source")
    for run in api.runs():
        created = datetime.fromtimestamp(run.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            run.name,
            created,
            f"{run.requests:,}",
            str(run.faults),
            str(run.meta.get("source", "live")),
        )
    make_console().print(table)
    click.echo(f"store: {api.store().description}")


@runs.command("show")
@click.argument("name")
def runs_show(name: str) -> None:
    """Show one run's metadata as JSON.

    Example: pareto runs show before
    """
    from django_pareto import api
    from django_pareto.store.base import StoreError

    run = api.store().run(name)
    if run is None:
        raise StoreError(f"no run named {name!r}")
    click.echo(
        json.dumps(
            {
                "name": run.name,
                "created_at": run.created_at,
                "requests": run.requests,
                "faults": run.faults,
                "meta": run.meta,
            },
            indent=2,
        )
    )


@runs.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def runs_delete(name: str, yes: bool) -> None:
    """Delete a run and everything recorded in it.

    Example: pareto runs delete before --yes
    """
    from django_pareto import api

    if not yes:
        click.confirm(f"Delete run {name!r} and all its requests?", abort=True)
    if not api.delete_run(name):
        raise click.ClickException(f"no run named {name!r}")
    click.echo(f"Deleted run {name!r}.")


@runs.command("prune")
@click.option(
    "--older-than",
    "days",
    type=click.FloatRange(min=0),
    required=True,
    help="Age in days of the requests to delete.",
)
def runs_prune(days: float) -> None:
    """Delete requests older than a number of days, and runs left empty.

    The writer does this by itself every hour with PARETO["RETENTION_DAYS"].
    Example: pareto runs prune --older-than 30
    """
    from django_pareto import api

    click.echo(f"Deleted {api.prune(days):,} requests older than {days:g} days.")


@cli.command()
@click.option("--run", "run_name", default=None, help="Run to fix (default: the latest).")
@click.option("--write", is_flag=True, help="Write the migrations (default: print them).")
@click.option("--allow-drop", is_flag=True, help="Also drop the indexes found unused.")
@click.option("--app", default=None, help="Your app for indexes on other apps' models.")
@click.option(
    "--only",
    multiple=True,
    metavar="ID",
    help="Only the findings with this id, e.g. D001 (repeatable).",
)
def fix(
    run_name: str | None, write: bool, allow_drop: bool, app: str | None, only: tuple[str, ...]
) -> None:
    """Turn a run's index findings into migrations, and the rest into code hints.

    Without --write it is a dry run: it prints the migrations it would write.
    Example: pareto fix --run before --app blog --write
    """
    from django_pareto import api
    from django_pareto.fix import FixError, render_migrations, write_migrations
    from django_pareto.fix.render import render_plan

    try:
        plan = api.fix(run_name, allow_drop=allow_drop, app=app, only=only or None)
        rendered = render_migrations(plan)
        if write:
            write_migrations(plan)
    except FixError as exc:
        raise click.ClickException(str(exc)) from exc
    render_plan(plan, rendered, written=write)


@cli.command()
@click.argument("before")
@click.argument("after")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def compare(before: str, after: str, fmt: str) -> None:
    """Two runs side by side per endpoint: p50, p95, queries and database time, with ratios.

    Example: pareto compare before after --format json
    """
    from django_pareto import api
    from django_pareto.report.compare import render_comparison

    data = api.compare(before, after)
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        render_comparison(data)


@cli.command()
@click.option("--run", "before", required=True, help="The run recorded before the fix.")
@click.option("--apply", "targets", required=True, multiple=True, help="app.migration or file.")
@click.option("--as", "after", required=True, help="Name of the run to record after the fix.")
@click.option("--workload", type=click.Path(dir_okay=False), help="Default: the run's own.")
@click.option("--requests", "count", type=click.IntRange(1), help="Default: as many as before.")
@click.option("--replace", is_flag=True, help="Delete an existing run named as --as first.")
def verify(
    before: str,
    targets: tuple[str, ...],
    after: str,
    workload: str | None,
    count: int | None,
    replace: bool,
) -> None:
    """Prove a fix: migrate a scratch copy of the database, replay the workload, compare.

    The real database is never modified. Example:
    pareto verify --run before --apply blog.0042_pareto_indexes --as after
    """
    from django.core.management import CommandError

    from django_pareto import api
    from django_pareto.report.compare import render_comparison
    from django_pareto.verify.scratch import ScratchError

    try:
        data = api.verify(
            before, apply=list(targets), after=after, workload=workload, requests=count,
            replace=replace,
        )  # fmt: skip
    except (ScratchError, CommandError) as exc:
        raise click.ClickException(str(exc)) from exc
    render_comparison(data)


cli.add_command(denorm)
for command in (load, serve, scale):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="pareto")
