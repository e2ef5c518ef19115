"""Shared pieces of the query-cache benchmarks (cache_staleness.py, cache_vs_cachalot.py).

A Django app (``models``: the versioned ``Row`` table and django-cachalot's ``Test``), one
settings module per implementation under test (``settings/``), the worker harness that
runs each implementation in processes of its own (``harness``), per-implementation
adapters (``impls``) and the workload pieces (``workload``: write paths, published
versions, cachalot's 12 queries).
"""
