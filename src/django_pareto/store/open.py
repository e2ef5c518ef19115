"""Open the store the settings name."""

from __future__ import annotations

from django_pareto import conf
from django_pareto.store.base import Store


def open_store(settings: conf.ParetoSettings | None = None) -> Store:
    """The configured store, its schema ensured. Raises StoreError with a clear message."""
    settings = settings or conf.get()
    store: Store
    if settings.STORE_ALIAS:
        from django_pareto.store.postgresql import PostgreSQLStore

        store = PostgreSQLStore(settings.STORE_ALIAS)
    else:
        from django_pareto.store.sqlite import SQLiteStore

        store = SQLiteStore(settings.store_path)
    store.ensure_schema()
    return store
