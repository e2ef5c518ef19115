"""Store: runs, requests, query fingerprints and query events, in SQLite or PostgreSQL."""

from __future__ import annotations

from django_pareto.store.base import Store, StoreError
from django_pareto.store.open import open_store

__all__ = ["Store", "StoreError", "open_store"]
