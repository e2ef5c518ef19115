"""Render the results of ``pareto load`` and ``pareto scale`` for the terminal with rich."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from django_pareto.load.engine import Snapshot
from django_pareto.load.model import LatencySummary, LoadResult
from django_pareto.report.console import make_console

PERCENTILES = [("p50", "p50"), ("p90", "p90"), ("p95", "p95"), ("p99", "p99"),
               ("p99.9", "p999"), ("max", "max")]  # fmt: skip


def _latency_cells(summary: LatencySummary) -> list[str]:
    return [f"{getattr(summary, attr):,.1f}" for _, attr in PERCENTILES]


def load_summary(result: LoadResult) -> Panel:
    lines = [
        f"[b]{result.completed:,}[/b] responses in {result.duration_s:.1f} s from "
        f"{result.target} ({result.mode} loop"
        + (f", {result.rate:,.0f}/s offered" if result.rate else "")
        + f", {result.connections} connections, {result.processes} process"
        + ("es" if result.processes != 1 else "")
        + ")",
        f"throughput [b]{result.throughput_rps:,.1f}[/b] req/s "
        f"([b]{result.throughput_rpm:,.0f}[/b] req/min)   availability "
        f"[b]{result.availability:.2%}[/b]   errors {result.errors:,}",
        "statuses " + ", ".join(f"{k}: {v:,}" for k, v in sorted(result.status_counts.items())),
        f"generator CPU {result.client_cpu_s:.1f} s",
    ]
    return Panel("\n".join(lines), title="load", expand=False)


def latency_table(result: LoadResult) -> Table:
    table = Table(title="Latency ms (corrected: from when each request was due)",
                  title_justify="left")  # fmt: skip
    table.add_column("")
    for label, _ in PERCENTILES:
        table.add_column(label, justify="right")
    table.add_row("corrected", *_latency_cells(result.corrected))
    table.add_row("uncorrected", *_latency_cells(result.uncorrected))
    return table


def endpoints_table(result: LoadResult) -> Table:
    timed = any(e.server_timing for e in result.endpoints.values())
    table = Table(title="Per request of the workload (uncorrected latency)", title_justify="left")
    for name, justify in [("request", "left"), ("count", "right"), ("errors", "right"),
                          ("p50", "right"), ("p95", "right"), ("p99", "right")]:  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    if timed:
        for name in ("db ms", "app ms", "queue ms"):
            table.add_column(name, justify="right")
    rows = sorted(result.endpoints.values(), key=lambda e: e.count, reverse=True)
    for e in rows:
        cells: list[Text | str] = [Text(e.name), f"{e.count:,}", f"{e.errors:,}"]
        cells += [f"{getattr(e.latency, p):,.1f}" for p in ("p50", "p95", "p99")]
        if timed:
            st = e.server_timing
            cells += (
                [f"{st.db_ms:,.1f}", f"{st.app_ms:,.1f}", f"{st.queue_ms:,.1f}"]
                if st
                else ["", "", ""]
            )
        table.add_row(*cells)
    return table


def server_timing_panel(result: LoadResult) -> Panel | None:
    st = result.server_timing
    if st is None or not st.responses:
        return None
    return Panel(
        f"database [b]{st.db_ms:,.1f}[/b] ms + application [b]{st.app_ms:,.1f}[/b] ms "
        f"(in Django) + queueing and network [b]{st.queue_ms:,.1f}[/b] ms, per response "
        f"on average; {st.queries:.1f} queries ({st.responses:,} responses carried "
        "Server-Timing)",
        title="where the latency goes",
        expand=False,
    )


def render_load(result: LoadResult, console: Console | None = None) -> None:
    console = console or make_console()
    console.print(load_summary(result))
    console.print(latency_table(result))
    console.print(endpoints_table(result))
    timing = server_timing_panel(result)
    if timing is not None:
        console.print(timing)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)


class LiveProgress:
    """The live line of a running load test (on stderr: stdout stays parseable)."""

    def __init__(self, enabled: bool, total_s: float) -> None:
        self.total_s = total_s
        self.live = Live(
            Text("starting…"), console=Console(stderr=True), refresh_per_second=4,
            transient=True, auto_refresh=False,
        ) if enabled else None  # fmt: skip

    def __enter__(self) -> LiveProgress:
        if self.live is not None:
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()

    def __call__(self, snap: Snapshot) -> None:
        if self.live is None:
            return
        phase = "warming up" if snap.warming_up else "measuring"
        self.live.update(
            Text(
                f"{phase} {snap.elapsed:5.1f}/{self.total_s:.0f} s  sent {snap.sent:,}  "
                f"done {snap.completed:,}  errors {snap.errors:,}  {snap.rps:,.0f} req/s"
            ),
            refresh=True,
        )


def render_scale(data: dict[str, Any], console: Console | None = None) -> None:
    """``data``: ScaleResult.to_json()."""
    console = console or make_console()
    objective = data["objective"]["p95_ms"]
    table = Table(
        title=f"Capacity per worker count (p95 <= {objective:g} ms, < 1% errors)",
        title_justify="left",
    )
    for name in ("workers", "req/s at objective", "p95 ms", "flat out req/s", "bottleneck"):
        table.add_column(name, justify="left" if name == "bottleneck" else "right")
    for point in data["points"]:
        neck = point["bottleneck"]
        table.add_row(
            str(point["workers"]),
            f"{point['throughput_rps']:,.1f}",
            f"{point['p95_ms']:,.1f}",
            f"{point['closed_loop_rps']:,.1f}",
            Text(neck["component"] if neck else "-"),
        )
    console.print(table)
    usl = data.get("usl")
    if usl:
        peak = (
            f"peak N* = {usl['peak_n']:.1f} at {usl['peak_throughput']:,.1f} req/s"
            if usl.get("peak_n")
            else "no peak within reach"
        )
        console.print(
            Panel(
                f"λ = {usl['lambda']:,.1f} req/s per worker, σ = {usl['sigma']:.3g}, "
                f"κ = {usl['kappa']:.3g}, R² = {usl['r2']:.3f}; {peak}\n{usl['verdict']}",
                title="Universal Scalability Law",
                expand=False,
            )
        )
    elif data.get("usl_error"):
        console.print(f"[yellow]no scalability curve:[/yellow] {data['usl_error']}")
    neck = data.get("bottleneck")
    if neck:
        evidence = "\n".join(f"- {line}" for line in neck.get("evidence", []))
        console.print(
            Panel(
                Text(f"{neck.get('verdict', neck['component'])}\n{evidence}"),
                title="bottleneck",
                expand=False,
            )
        )
