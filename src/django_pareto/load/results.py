"""The generator processes' reports merged into one ``LoadResult``, with the warnings that
say when the numbers describe the client rather than the site."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from hdrh.histogram import HdrHistogram

from django_pareto.load import histograms
from django_pareto.load.messages import WorkerReport
from django_pareto.load.model import EndpointResult, LoadConfig, LoadResult
from django_pareto.load.server_timing import ServerTimingSums

RATE_SHORTFALL = 0.95  # below this share of the asked rate, say so
CPU_SATURATED = 0.9  # a generator busier than this queues requests behind its own work


def build_result(
    config: LoadConfig, reports: Sequence[WorkerReport], processes: int, lost: int = 0
) -> LoadResult:
    statuses: Counter[str] = Counter()
    for report in reports:
        statuses.update(report.statuses)

    endpoints: dict[str, EndpointResult] = {}
    uncorrected = histograms.new_histogram()
    timing = ServerTimingSums()
    rejected = failures = 0
    for name, histogram, sums, name_rejected, name_failures in _per_endpoint(reports):
        uncorrected.add(histogram)
        timing.merge(sums)
        rejected += name_rejected
        failures += name_failures
        endpoints[name] = EndpointResult(
            name=name,
            count=int(histogram.get_total_count()) + name_failures,
            errors=name_rejected + name_failures,
            latency=histograms.summarize(histogram),
            server_timing=sums.summary(),
        )

    completed = int(uncorrected.get_total_count())
    window_s = max((report.window_s for report in reports), default=0.0)
    throughput = completed / window_s if window_s > 0 else 0.0
    connections = sum(report.connections for report in reports)
    corrected = _corrected(config, reports, uncorrected, window_s, connections)

    result = LoadResult(
        target=config.target.url,
        mode=config.mode,
        rate=config.rate if config.mode == "open" else None,
        connections=connections,
        processes=processes,
        duration_s=window_s,
        sent=sum(report.sent for report in reports),
        completed=completed,
        ok=completed - rejected,
        errors=rejected + failures,
        status_counts=dict(sorted(statuses.items())),
        throughput_rps=throughput,
        corrected=histograms.summarize(corrected),
        uncorrected=histograms.summarize(uncorrected),
        endpoints=endpoints,
        server_timing=timing.summary(),
        client_cpu_s=sum(report.cpu_s for report in reports),
    )
    result.warnings = _warnings(config, reports, result, rejected, lost)
    return result


def _per_endpoint(
    reports: Sequence[WorkerReport],
) -> list[tuple[str, HdrHistogram, ServerTimingSums, int, int]]:
    merged: dict[str, tuple[HdrHistogram, ServerTimingSums, list[int]]] = {}
    for report in reports:
        for endpoint in report.endpoints:
            histogram, sums, counts = merged.setdefault(
                endpoint.name, (histograms.new_histogram(), ServerTimingSums(), [0, 0])
            )
            histogram.add(histograms.decode(endpoint.histogram))
            sums.merge(endpoint.timing)
            counts[0] += endpoint.rejected
            counts[1] += endpoint.failures
    return [(name, h, sums, counts[0], counts[1]) for name, (h, sums, counts) in merged.items()]


def _corrected(
    config: LoadConfig,
    reports: Sequence[WorkerReport],
    uncorrected: HdrHistogram,
    window_s: float,
    connections: int,
) -> HdrHistogram:
    if config.mode == "open":
        corrected = histograms.new_histogram()
        for report in reports:
            if report.corrected is not None:
                corrected.add(histograms.decode(report.corrected))
        return corrected
    completed = uncorrected.get_total_count()
    if not completed:
        return uncorrected
    # A closed loop has no intended start times. Its expected interval is the mean time
    # between two requests of one connection over the run, as wrk computes it
    # (runtime / (completed / connections)): a response slower than that stood for the
    # requests the connection would have sent meanwhile.
    interval_us = window_s * 1e6 * connections / completed
    return histograms.corrected_for_omission(uncorrected, round(interval_us))


def _warnings(
    config: LoadConfig,
    reports: Sequence[WorkerReport],
    result: LoadResult,
    rejected: int,
    lost: int,
) -> list[str]:
    warnings: list[str] = []
    if lost:
        warnings.append(
            f"{lost} of {lost + len(reports)} generator processes did not report: "
            "their requests are missing from these numbers"
        )
    start_window = max((report.start_window_s for report in reports), default=0.0)
    if config.mode == "open" and config.rate and start_window > 0:
        written = sum(report.written_in_window for report in reports)
        achieved = written / start_window
        if achieved < RATE_SHORTFALL * config.rate:
            warnings.append(
                f"target rate not reached: {achieved:.0f} requests/s started of the "
                f"{config.rate:g} asked (the rest waited for a connection or the generator "
                "fell behind)"
            )
    busiest = max((report.busy for report in reports), default=0.0)
    if busiest > CPU_SATURATED:
        warnings.append(
            f"the generator saturated its CPU ({busiest:.0%} of a core in its busiest "
            "process): latencies include its own queueing; use more processes or a lower rate"
        )
    if config.mode == "open":
        needed = result.throughput_rps * result.corrected.mean / 1000
        if needed > result.connections:
            warnings.append(
                f"needed concurrency exceeds the connection pool: {result.throughput_rps:.0f} "
                f"requests/s x {result.corrected.mean:.1f} ms = {needed:.1f} requests at once "
                f"on average, for {result.connections} connections: requests queued in the "
                "client (their wait is in the corrected latencies); use more connections"
            )
    if result.errors:
        parts = [f"{rejected} with a status the plan does not accept"] if rejected else []
        parts += [
            f"{count} {kind}" for kind, count in result.status_counts.items() if not kind.isdigit()
        ]
        warnings.append(f"{result.errors} of {result.sent} requests failed: {', '.join(parts)}")
    return warnings
