"""Print a fix plan for the terminal: the migrations (written or to write), hints, skips."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax

from django_pareto.fix.plan import FixPlan
from django_pareto.fix.writer import RenderedMigration
from django_pareto.report.console import make_console


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def render_plan(
    plan: FixPlan,
    rendered: list[RenderedMigration],
    *,
    written: bool,
    console: Console | None = None,
) -> None:
    console = console or make_console()
    verb = "Wrote" if written else "Would write (dry run; pass --write to write it)"
    for migration in rendered:
        console.print(f"[b]{verb}[/b] {escape(_shown(migration.path))}")
        if not written:
            console.print(Syntax(migration.text, "python", theme="ansi_dark"))
    if not rendered:
        console.print("No migration to write for run " + escape(plan.run) + ".")
    for note in plan.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}")
    for hint in plan.hints:
        lines = [f"[green]{escape(hint.summary)}[/green]"]
        if hint.location:
            lines.append(f"[dim]at:[/dim] {escape(hint.location)}")
        if hint.code:
            lines.append(f"[cyan]{escape(hint.code)}[/cyan]")
        title = f"[b]{escape(hint.finding)}[/b] {escape(hint.title)}"
        console.print(Panel("\n".join(lines), title=title, title_align="left", expand=False))
    for skipped in plan.skipped:
        console.print(
            f"[red]skipped[/red] {escape(skipped.finding)} {escape(skipped.title)}: "
            f"{escape(skipped.reason)}"
        )
