"""The Server-Timing header of the capture middleware, read by the load generator:
``db;dur=1.23, total;dur=4.5, queries;desc="7"`` (durations in ms; the query count may also
come as ``queries;dur=7``). Only responses that carry one pay for parsing it."""

from __future__ import annotations

from dataclasses import dataclass

from django_pareto.load.model import ServerTimingSummary

_WANTED = (b"db", b"total", b"queries")


def parse_server_timing(value: bytes) -> dict[bytes, float]:
    """The numbers of the db, total and queries entries (``dur`` first, else ``desc``).
    A later entry wins: the capture middleware appends its own after the app's."""
    found: dict[bytes, float] = {}
    for entry in value.split(b","):
        name, _, params = entry.partition(b";")
        name = name.strip().lower()
        if name not in _WANTED:
            continue
        numbers: dict[bytes, float] = {}
        for param in params.split(b";"):
            key, _, raw = param.partition(b"=")
            try:
                numbers[key.strip().lower()] = float(raw.strip().strip(b'"'))
            except ValueError:
                continue
        number = numbers.get(b"dur", numbers.get(b"desc"))
        if number is not None:
            found[name] = number
    return found


@dataclass
class ServerTimingSums:
    """Sums over the responses that reported a ``total``; means at the end."""

    responses: int = 0
    db_ms: float = 0.0
    total_ms: float = 0.0
    client_ms: float = 0.0  # the client's uncorrected latency of the same responses
    queries: float = 0.0

    def add_header(self, value: bytes, client_ms: float) -> None:
        numbers = parse_server_timing(value)
        total = numbers.get(b"total")
        if total is None:  # without the total, db and queries say nothing about the split
            return
        self.responses += 1
        self.total_ms += total
        self.db_ms += numbers.get(b"db", 0.0)
        self.queries += numbers.get(b"queries", 0.0)
        self.client_ms += client_ms

    def merge(self, other: ServerTimingSums) -> None:
        self.responses += other.responses
        self.db_ms += other.db_ms
        self.total_ms += other.total_ms
        self.client_ms += other.client_ms
        self.queries += other.queries

    def summary(self) -> ServerTimingSummary | None:
        n = self.responses
        if not n:
            return None
        return ServerTimingSummary(
            responses=n,
            db_ms=self.db_ms / n,
            app_ms=(self.total_ms - self.db_ms) / n,
            queue_ms=(self.client_ms - self.total_ms) / n,
            queries=self.queries / n,
        )
