"""Render a run comparison (the dict of verify.compare) as a terminal table with rich."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from django_pareto.report.console import make_console

ENDPOINT_ROWS = 25
# A ratio counts as better (or worse) from 10% up: smaller moves are noise between runs.
SIGNIFICANT = 1.1
# (metric, column heading, format of one value)
COLUMNS = (
    ("p50_ms", "p50 ms", "{:,.1f}"),
    ("p95_ms", "p95 ms", "{:,.1f}"),
    ("queries_per_request", "q/req", "{:,.1f}"),
    ("db_ms_per_request", "db ms/req", "{:,.1f}"),
)


def _value(side: dict[str, Any] | None, metric: str, fmt: str) -> str:
    return "-" if side is None else fmt.format(side[metric])


def _ratio(value: float | None) -> str:
    if value is None:
        return "-"
    style = "green" if value >= SIGNIFICANT else "red" if value <= 1 / SIGNIFICANT else "dim"
    return f"[{style}]{value:.2f}x[/{style}]"


def comparison_table(data: dict[str, Any]) -> Table:
    before, after = escape(data["before"]), escape(data["after"])
    table = Table(
        title=f"[b]{before}[/b] -> [b]{after}[/b] (ratio = {before} / {after}: > 1 is better)",
        title_justify="left",
    )
    table.add_column("endpoint")
    table.add_column("requests", justify="right")
    for _, heading, _ in COLUMNS:
        table.add_column(heading, justify="right")
        table.add_column("ratio", justify="right")
    rows = [{"endpoint": "TOTAL", **data["total"]}, *data["endpoints"][:ENDPOINT_ROWS]]
    for i, row in enumerate(rows):
        cells = [
            escape(row["endpoint"]),
            f"{_value(row['before'], 'requests', '{:,}')} / "
            f"{_value(row['after'], 'requests', '{:,}')}",
        ]
        for metric, _, fmt in COLUMNS:
            cells.append(
                f"{_value(row['before'], metric, fmt)} -> {_value(row['after'], metric, fmt)}"
            )
            cells.append(_ratio(row["ratio"][metric]))
        table.add_row(*cells, style="bold" if i == 0 else None, end_section=i == 0)
    return table


def render_comparison(data: dict[str, Any], console: Console | None = None) -> None:
    (console or make_console()).print(comparison_table(data))
