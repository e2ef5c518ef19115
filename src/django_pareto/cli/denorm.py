"""``pareto denorm``: fill and check the fields of ``django_pareto.denorm``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.progress import TaskID

from django_pareto.cli.progress import progress_bar

if TYPE_CHECKING:
    from django_pareto.denorm.mirror import Mirror

MODEL_HELP = "app_label.Model or app_label.Model.field (repeatable; default: every mirror)."


@click.group()
def denorm() -> None:
    """Fill and check the mirrored relations of django_pareto.denorm."""


def _select(models: tuple[str, ...]) -> list[Mirror]:
    from django_pareto.denorm.maintenance import SelectionError, select

    try:
        return select(models)
    except SelectionError as exc:
        raise click.BadParameter(str(exc), param_hint="--model") from exc


@denorm.command("backfill")
@click.option("--model", "models", multiple=True, help=MODEL_HELP)
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1))
@click.option("--resume", is_flag=True, help="Only rows still holding the default [].")
@click.option("--database", default=None, help="Database alias (default: the router's).")
@click.option("--progress/--no-progress", default=True, show_default=True)
def denorm_backfill(
    models: tuple[str, ...], batch_size: int, resume: bool, database: str | None, progress: bool
) -> None:
    """Fill mirrored fields from their relations, in batches of parents in pk order.

    Each batch is one transaction (lock, recompute, write what differs): safe while the
    site runs. Interrupted? Run it again, with --resume to skip the rows already filled.
    Example: pareto denorm backfill --model blog.Article --batch-size 2000
    """
    from django_pareto.denorm.maintenance import backfill, on_database, to_fill

    for mirror in _select(models):
        alias = on_database(mirror, database)
        if alias is None:
            click.echo(f"{mirror.label}: not on database {database or 'default'}, skipped.")
            continue
        with progress_bar("[b]{task.description}", progress) as bar:
            task = bar.add_task(mirror.label, total=to_fill(mirror, alias, resume).count())

            def advance(rows: int, task: TaskID = task) -> None:
                bar.advance(task, rows)

            result = backfill(
                mirror, using=alias, batch_size=batch_size, resume=resume, on_rows=advance
            )
        click.echo(
            f"{result.mirror}: {result.rows:,} rows visited, {result.written:,} written "
            f"({result.database})."
        )


@denorm.command("check")
@click.option("--model", "models", multiple=True, help=MODEL_HELP)
@click.option("--repair", is_flag=True, help="Recompute and rewrite the rows that drifted.")
@click.option("--database", default=None, help="Database alias (default: the router's).")
@click.pass_context
def denorm_check(
    ctx: click.Context, models: tuple[str, ...], repair: bool, database: str | None
) -> None:
    """Find mirrored fields that differ from their relations, and repair them with --repair.

    Drift comes from writes that send no signal: bulk_create of through rows, QuerySet.update
    of mirrored attributes, raw SQL. Exits with status 1 when drift is found and not
    repaired. Example: pareto denorm check --repair
    """
    from django_pareto.denorm.maintenance import check, on_database

    unrepaired = 0
    for mirror in _select(models):
        alias = on_database(mirror, database)
        if alias is None:
            continue
        report = check(mirror, using=alias, repair=repair)
        if not report.drifted:
            click.echo(f"{report.mirror}: in sync ({report.rows:,} rows, {report.database}).")
            continue
        shown = ", ".join(map(str, report.drifted[:10]))
        more = f" and {len(report.drifted) - 10:,} more" if len(report.drifted) > 10 else ""
        click.echo(
            f"{report.mirror}: {len(report.drifted):,} of {report.rows:,} rows drifted "
            f"(pks {shown}{more}, {report.database})."
        )
        if repair:
            click.echo(f"  repaired {report.repaired:,} rows.")
        else:
            unrepaired += len(report.drifted)
    if unrepaired:
        click.echo(f"{unrepaired:,} rows drifted: run `pareto denorm check --repair`.", err=True)
        ctx.exit(1)
