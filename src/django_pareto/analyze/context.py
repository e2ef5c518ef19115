"""What analyzers read: one run of the store, loaded once and shared, plus the schema."""

from __future__ import annotations

from functools import cached_property

from django_pareto.analyze.schema import SchemaMap
from django_pareto.store.base import Store
from django_pareto.store.records import QueryGroupRow, RequestQueryRow, RequestRow, RunInfo


class AnalysisContext:
    """A recorded run as analyzers see it. Everything is loaded lazily, at most once."""

    def __init__(self, store: Store, run: RunInfo) -> None:
        self.store = store
        self.run = run

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
