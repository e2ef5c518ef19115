"""Per-vendor facts about a database: its indexes, plans, statistics and write costs.

``backend_for(alias)`` picks the module by the connection's vendor; every module has the
same method names and answers capability questions with flags (as Django's features.py).
"""

from __future__ import annotations

from django.db import connections

from django_pareto.backends.base import (
    DatabaseBackend,
    ExistingIndex,
    InsertCost,
    Plan,
    UnsupportedDatabase,
)

__all__ = [
    "DatabaseBackend",
    "ExistingIndex",
    "InsertCost",
    "Plan",
    "UnsupportedDatabase",
    "backend_class",
    "backend_for",
]


def backend_class(vendor: str) -> type[DatabaseBackend] | None:
    """The backend class of a Django vendor name, or None when there is none."""
    if vendor == "postgresql":
        from django_pareto.backends.postgresql import PostgreSQLBackend

        return PostgreSQLBackend
    if vendor == "sqlite":
        from django_pareto.backends.sqlite import SQLiteBackend

        return SQLiteBackend
    return None


def backend_for(alias: str) -> DatabaseBackend:
    """The backend of a Django database alias; ``UnsupportedDatabase`` for other vendors."""
    vendor = connections[alias].vendor
    cls = backend_class(vendor)
    if cls is None:
        raise UnsupportedDatabase(f"no index analysis for {vendor} (alias {alias!r})")
    return cls(alias)
