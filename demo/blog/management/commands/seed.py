"""``python manage.py seed --scale N [--seed S] [--force]``: fill the demo database."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from blog import seed as seeding


class Command(BaseCommand):
    help = (
        "Fill the database with deterministic, skewed demo data. Scale 1 is about 1,000 "
        "users, 8,000 articles, 40,000 favorites and 50,000 page views. Refuses to touch a "
        "database that already has users or blog data unless --force is given, which wipes "
        "the blog tables, the users (and rows referencing them) and the sessions first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scale", type=float, default=1.0, help="size multiplier, e.g. 0.02, 1 or 10"
        )
        parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        parser.add_argument(
            "--force", action="store_true", help="wipe existing users and blog data first"
        )
        parser.add_argument("--database", default="default", help="database alias")

    def handle(self, *args: Any, **options: Any) -> None:
        scale: float = options["scale"]
        using: str = options["database"]
        if not scale > 0:
            raise CommandError("--scale must be a positive number")
        if seeding.has_data(using):
            if not options["force"]:
                raise CommandError(
                    "The database already has users or blog data; "
                    "run again with --force to wipe it and seed from scratch."
                )
            seeding.wipe(using)
        plan = seeding.SeedPlan.for_scale(scale)
        console = Console(file=self.stdout._out, highlight=False)  # rich writes raw text
        started = time.perf_counter()
        with Progress(
            TextColumn("{task.description:<13}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            tasks = {
                stage: progress.add_task(stage, total=total, start=False)
                for stage, total in plan.stages().items()
            }
            current: list[str] = []

            def advance(stage: str, rows: int) -> None:
                if not current or current[-1] != stage:
                    if current:  # the previous stage is done: its estimate becomes exact
                        done = progress.tasks[tasks[current[-1]]].completed
                        progress.update(tasks[current[-1]], total=done)
                        progress.stop_task(tasks[current[-1]])
                    progress.start_task(tasks[stage])
                    current.append(stage)
                progress.advance(tasks[stage], rows)

            counts = seeding.seed(scale, options["seed"], using=using, advance=advance)
            for task_id in tasks.values():  # estimated totals: show every bar as done
                task = progress.tasks[task_id]
                progress.update(task_id, total=task.completed)
                progress.stop_task(task_id)
        elapsed = time.perf_counter() - started
        table = Table(title=f"Seeded scale {scale:g}, seed {options['seed']} in {elapsed:.1f}s")
        table.add_column("rows", justify="left")
        table.add_column("count", justify="right")
        for name, count in counts.items():
            table.add_row(name, f"{count:,}")
        console.print(table)
        console.print(f'Log in as "{seeding.DEMO_USERNAME}" / "{seeding.DEMO_PASSWORD}".')
