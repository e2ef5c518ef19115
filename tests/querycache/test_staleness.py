"""The staleness harness (benchmarks/cache_staleness.py), small, on real PostgreSQL and Redis.

Writer and reader processes share a table through the query cache: ours must never serve
a row older than one already committed and published, during the run or after it. And the
harness must be able to see staleness at all: a deliberately broken cache (results kept
in Django's cache by their SQL, never invalidated) must show stale reads and lingering
stale entries. Counts only, never timings.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.services import REDIS_URL, postgres_available, redis_available, skip_or_fail

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
FORGETFUL_HOOK = "tests.querycache.test_staleness:install_forgetful_cache"
SECONDS = 2.0  # per implementation and mode: four runs, about 20 s in all
MODES = ("autocommit", "atomic", "atomic-writes")


def install_forgetful_cache() -> None:
    """Run in the harness's worker processes (the "forgetful" implementation's hook).

    Every ORM read of the benchmark's tables is served from Django's cache (Redis) by its
    SQL, parameters and result type, and nothing ever invalidates it: the cache a site
    gets from wrapping querysets in ``cache.get_or_set`` by hand.
    """
    import hashlib

    from django.core.cache import cache
    from django.core.exceptions import EmptyResultSet
    from django.db.models.sql import compiler
    from django.db.models.sql.constants import MULTI, SINGLE

    original = compiler.SQLCompiler.execute_sql
    writes = (compiler.SQLInsertCompiler, compiler.SQLUpdateCompiler, compiler.SQLDeleteCompiler)
    missing = object()

    def execute_sql(self: Any, result_type: Any = MULTI, *args: Any, **kwargs: Any) -> Any:
        model = self.query.model
        if (
            isinstance(self, writes)
            or result_type not in (MULTI, SINGLE)
            or kwargs.get("chunked_fetch")
            or (args and args[0])
            or model is None
            or model._meta.app_label != "cachebench"
        ):
            return original(self, result_type, *args, **kwargs)
        try:
            sql, params = self.as_sql()
        except EmptyResultSet:
            return original(self, result_type, *args, **kwargs)
        key = hashlib.sha1(f"{sql}|{params!r}|{result_type}".encode()).hexdigest()
        found = cache.get(key, missing)
        if found is not missing:
            return found
        value = original(self, result_type, *args, **kwargs)
        if result_type == MULTI:
            value = list(value)
        cache.set(key, value, 300)
        return value

    compiler.SQLCompiler.execute_sql = execute_sql  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def staleness() -> ModuleType:
    from tests.settings import PG_DSN

    if not postgres_available(PG_DSN):
        skip_or_fail(
            f"PostgreSQL is not reachable at {PG_DSN['HOST']}:{PG_DSN['PORT']} (PGHOST, PGPORT)"
        )
    if not redis_available():
        skip_or_fail(f"Redis is not reachable at {REDIS_URL} (PARETO_TEST_REDIS_URL)")
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    import cache_staleness

    return cache_staleness


@pytest.fixture(scope="module")
def results(staleness: ModuleType) -> dict[tuple[str, str], Any]:
    """One harness run: ours in every mode (autocommit; atomic blocks; writes in atomic
    blocks and reads in autocommit), the forgetful cache in autocommit."""
    from cachebench.harness import IMPLS, Impl, Services
    from tests.settings import PG_DSN

    url = urlsplit(REDIS_URL)
    forgetful = Impl("forgetful", "cachebench.settings.none", "forgetful cache", FORGETFUL_HOOK)
    config = staleness.Config(
        impls=[IMPLS["ours"], forgetful],
        modes=MODES,
        modes_of={"forgetful": ("autocommit",)},
        seconds=SECONDS,
        writers=2,
        readers=2,
        rows=10,
        pause=0.3,
        # A database of this session's own (parallel runs set PARETO_TEST_PG_NAME); the
        # test suite's Redis db is shared: keys of the run's own prefix, no FLUSHDB.
        database=os.environ.get("PARETO_TEST_PG_NAME", "test_pareto_tests") + "_staleness",
        services=Services(
            pg_host=PG_DSN["HOST"],
            pg_port=PG_DSN["PORT"],
            pg_user=PG_DSN["USER"],
            pg_password=PG_DSN["PASSWORD"],
            redis=f"{url.scheme}://{url.netloc}",
            shared_db=int(url.path.strip("/") or 0),
            flush=False,
        ),
    )
    return {(r.impl, r.mode): r for r in staleness.run(config, progress=lambda line: None)}


@pytest.mark.parametrize("mode", MODES)
def test_ours_never_serves_a_stale_row(results: dict[tuple[str, str], Any], mode: str) -> None:
    r = results["ours", mode]
    assert r.errors == []
    assert r.reads > 0 and r.writes > 0, "the run did nothing"
    assert set(r.reads_by_kind) == {"get", "in", "all", "sum"}
    assert r.stale_reads == 0, (
        f"{r.stale_reads} of {r.reads} reads stale, by missed write path "
        f"{dict(r.stale_by_path)}; first: {r.examples[:3]}; cache counters {dict(r.stats)}"
    )
    assert r.lingering == 0, f"{r.lingering} of {r.checked}: {r.lingering_examples[:3]}"
    assert r.checked > 0


def test_ours_caches_during_the_run(results: dict[tuple[str, str], Any]) -> None:
    """Zero stale reads mean something only if reads went through the cache."""
    stats = results["ours", "autocommit"].stats
    assert stats["stores"] > 0
    assert stats["invalidations"] > 0
    assert stats["faults"] == 0


def test_the_harness_sees_a_cache_that_never_invalidates(
    results: dict[tuple[str, str], Any],
) -> None:
    r = results["forgetful", "autocommit"]
    assert r.errors == []
    assert r.stale_reads > 0
    assert r.stale_hits == r.stale_reads  # every stale read came from the cache
    assert r.lingering > 0
    assert sum(r.stale_by_path.values()) > 0
