"""What analyzers read: one run of the store, loaded once and shared, plus the schema."""

from __future__ import annotations

from functools import cached_property

from django_pareto.analyze.schema import SchemaMap
from django_pareto.backends import DatabaseBackend, UnsupportedDatabase, backend_for
from django_pareto.store.base import Store
from django_pareto.store.records import QueryGroupRow, RequestQueryRow, RequestRow, RunInfo


class AnalysisContext:
    """A recorded run as analyzers see it. Everything is loaded lazily, at most once."""

    def __init__(self, store: Store, run: RunInfo) -> None:
        self.store = store
        self.run = run
        self._backends: dict[str, tuple[DatabaseBackend | None, str | None]] = {}

    @cached_property
    def requests(self) -> list[RequestRow]:
        return self.store.request_rows(self.run.name)

    @cached_property
    def query_groups(self) -> list[QueryGroupRow]:
        """Per (fingerprint, endpoint, call site) over the whole run, weighted."""
        return self.store.query_groups(self.run.name)

    @cached_property
    def request_queries(self) -> list[RequestQueryRow]:
        """Per request, per (fingerprint, call site, alias), in execution order."""
        return self.store.request_queries(self.run.name)

    @cached_property
    def schema(self) -> SchemaMap:
        return SchemaMap()

    def backend(self, alias: str) -> tuple[DatabaseBackend | None, str | None]:
        """The vendor facts of a database alias, or None and why it cannot be analyzed."""
        if alias not in self._backends:
            try:
                self._backends[alias] = (backend_for(alias), None)
            except (UnsupportedDatabase, KeyError) as exc:
                self._backends[alias] = (None, f"alias {alias}: not analyzed: {exc}")
        return self._backends[alias]
