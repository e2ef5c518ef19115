"""The services later stages rely on are really there (in CI these cannot be skipped)."""

from __future__ import annotations

import pytest
from django.db import connections


@pytest.mark.django_db(databases=["default", "postgres"])
def test_postgresql_has_hypopg_and_pg_stat_statements(postgres_alias: str) -> None:
    with connections[postgres_alias].cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension")
        extensions = {row[0] for row in cursor.fetchall()}
        assert {"hypopg", "pg_stat_statements"} <= extensions, (
            "run .ci/services to install HypoPG and preload pg_stat_statements"
        )
        cursor.execute("SELECT count(*) FROM pg_stat_statements")
        assert cursor.fetchone()[0] >= 0
        cursor.execute(
            "SELECT indexrelid FROM hypopg_create_index('CREATE INDEX ON testapp_author (name)')"
        )
        assert cursor.fetchone()[0] > 0


def test_redis_answers(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.set("pareto:test", "1", ex=10)
    assert client.get("pareto:test") == b"1"
