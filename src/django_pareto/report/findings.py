"""Render a diagnosis (django_pareto.doctor) for the terminal with rich."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from django_pareto.report.console import make_console


def render_diagnosis(diagnosis: dict[str, Any], console: Console | None = None) -> None:
    console = console or make_console()
    findings = diagnosis["findings"]
    console.print(
        f"[b]{len(findings)}[/b] finding(s) for run [b]{escape(diagnosis['run'])}[/b], "
        "largest time saved first"
    )
    for i, f in enumerate(findings, start=1):
        fix = f["fix"]
        lines = [escape(f["message"])]
        if f["endpoints"]:
            lines.append(f"[dim]endpoints:[/dim] {escape(', '.join(f['endpoints'][:4]))}")
        lines.append(f"[green]fix:[/green] {escape(fix['summary'])}")
        if fix.get("location"):
            lines.append(f"[dim]at:[/dim] {escape(fix['location'])}")
        if fix.get("code"):
            lines.append(f"[cyan]{escape(fix['code'])}[/cyan]")
        title = (
            f"{i}. [b]{escape(f['id'])}[/b] {escape(f['title'])}  "
            f"[yellow]saves ~{f['savings_ms']:,.0f} ms[/yellow]"
        )
        console.print(Panel("\n".join(lines), title=title, title_align="left", expand=False))
    for analyzer, notes in diagnosis["notes"].items():
        for note in notes:
            console.print(f"[dim]{escape(analyzer)}: {escape(note)}[/dim]")
