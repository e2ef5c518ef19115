"""Render a report (the dict of report.build) for the terminal with rich."""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from django_pareto.report.console import make_console

ENDPOINT_ROWS = 25
QUERY_ROWS = 15


_SELECT_LIST = re.compile(r"^SELECT (DISTINCT )?(.{40,}?) FROM ", re.DOTALL)


def short_sql(sql: str, limit: int = 200) -> str:
    """The SQL as a reader scans it: a long select list elided, the rest cut at ``limit``."""
    sql = _SELECT_LIST.sub(lambda m: f"SELECT {m.group(1) or ''}… FROM ", sql, count=1)
    return sql if len(sql) <= limit else sql[: limit - 1] + "…"


def _ms(value: float) -> str:
    return f"{value:,.1f}"


def _pct(value: float) -> str:
    return f"{value:.1%}"


def summary_panel(report: dict[str, Any]) -> Panel:
    lat = report["latency_ms"]
    lines = [
        f"[b]{report['requests']:,}[/b] requests in {report['duration_s']:.1f} s   "
        f"throughput [b]{report['throughput_rpm']:,.0f}[/b] req/min",
        f"errors {report['errors']:,} ({_pct(report['error_rate'])})   "
        f"availability [b]{report['availability']:.2%}[/b]",
        f"latency ms  p50 [b]{_ms(lat['p50'])}[/b]  p95 [b]{_ms(lat['p95'])}[/b]  "
        f"p99 [b]{_ms(lat['p99'])}[/b]  mean {_ms(lat['mean'])}",
        f"time in database [b]{_pct(report['database_share'])}[/b]   "
        f"queries per request {report['queries_per_request']:.1f}",
    ]
    if report["faults"]:
        lines.append(f"[red]capture faults recorded: {report['faults']}[/red]")
    return Panel("\n".join(lines), title=f"run [b]{report['run']}[/b]", expand=False)


def endpoints_table(report: dict[str, Any]) -> Table:
    table = Table(title="Endpoints by total time (Pareto)", title_justify="left")
    for name, justify in [
        ("endpoint", "left"),
        ("count", "right"),
        ("total ms", "right"),
        ("share", "right"),
        ("cum.", "right"),
        ("mean ms", "right"),
        ("p95 ms", "right"),
        ("q/req", "right"),
    ]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    rows = report["endpoints"][:ENDPOINT_ROWS]
    for i, e in enumerate(rows):
        crosses = e["in_top"] and (i + 1 == len(rows) or not rows[i + 1]["in_top"])
        table.add_row(
            e["endpoint"],
            f"{e['count']:,}",
            _ms(e["total_ms"]),
            _pct(e["share"]),
            _pct(e["cumulative_share"]),
            _ms(e["mean_ms"]),
            _ms(e["p95_ms"]),
            f"{e['queries_per_request']:.1f}",
            style="bold" if e["in_top"] else "dim",
            end_section=crosses,
        )
    top = sum(1 for e in report["endpoints"] if e["in_top"])
    table.caption = (
        f"{top} of {len(report['endpoints'])} endpoints take 80% of the time (above the line)"
    )
    return table


def queries_table(report: dict[str, Any]) -> Table:
    table = Table(title="Queries by total time (Pareto)", title_justify="left", show_lines=False)
    for name, justify in [
        ("#", "right"),
        ("calls", "right"),
        ("total ms", "right"),
        ("share", "right"),
        ("mean ms", "right"),
        ("query / tables / where from", "left"),
    ]:
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for i, q in enumerate(report["queries"][:QUERY_ROWS], start=1):
        sql = short_sql(q["sql"])
        where = ", ".join(c["callsite"] for c in q["callsites"][:2])
        endpoints = ", ".join(e["endpoint"] for e in q["endpoints"][:2])
        detail = Text(sql)
        detail.append(f"\ntables: {', '.join(q['tables']) or '-'}", style="cyan")
        detail.append(f"\nfrom: {where}\nendpoints: {endpoints}", style="dim")
        table.add_row(
            str(i),
            f"{q['calls']:,.0f}",
            _ms(q["total_ms"]),
            _pct(q["share"]),
            _ms(q["mean_ms"]),
            detail,
            end_section=True,
            style=None if q["in_top"] else "dim",
        )
    top = sum(1 for q in report["queries"] if q["in_top"])
    table.caption = (
        f"{top} of {report['queries_total']} query fingerprints take 80% of database time"
    )
    return table


def bottleneck_panel(report: dict[str, Any]) -> Panel:
    b = report["bottleneck"]
    title = f"Bottleneck: [b]{b['component'] or 'none'}[/b] ({_pct(b['share'])} of request time)"
    return Panel(b["explanation"], title=title, expand=False, border_style="yellow")


def render(report: dict[str, Any], console: Console | None = None) -> None:
    console = console or make_console()
    console.print(
        Group(
            summary_panel(report),
            endpoints_table(report),
            queries_table(report),
            bottleneck_panel(report),
        )
    )
