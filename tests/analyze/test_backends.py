"""The vendor backends on real SQLite and PostgreSQL: same questions, each vendor's answers."""

from __future__ import annotations

import pytest
from django.db import connections

from django_pareto.analyze.sqlparse import executable, parse
from django_pareto.backends import backend_for
from django_pareto.backends.postgresql import PostgreSQLBackend
from django_pareto.backends.sqlite import SQLiteBackend
from tests.index_app import scenario
from tests.index_app.models import Item

ALIASES = ["default", "postgres"]


@pytest.fixture(params=ALIASES)
def alias(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        request.getfixturevalue("postgres_alias")
    return str(request.param)


@pytest.mark.django_db(databases=ALIASES, transaction=True)
def test_backend_answers(alias: str) -> None:
    scenario.fill(alias)
    backend = backend_for(alias)
    assert isinstance(backend, {"default": SQLiteBackend, "postgres": PostgreSQLBackend}[alias])
    names = {i.name: i for i in backend.indexes("index_app_item")}
    assert names["index_item_score_crt"].columns == ("score", "created_at")
    assert names["index_item_score_idx"].signature != names["index_item_score_crt"].signature
    assert names["index_item_score_idx"].columns == names["index_item_score_dup"].columns
    assert any(i.primary_key for i in names.values())
    assert any(i.unique and i.columns == ("slug",) for i in names.values())
    assert backend.row_count("index_app_item") == pytest.approx(scenario.ITEMS, rel=0.05)
    boolean = backend.match_fraction("index_app_item", "visible")
    assert boolean is not None and boolean == pytest.approx(0.95**2 + 0.05**2, abs=0.03)
    unique = backend.match_fraction("index_app_item", "sku")
    assert unique is not None and unique < 0.001
    sql, _ = Item.objects.using(alias).filter(sku="SKU000001").query.sql_with_params()
    parsed = parse(sql)
    binding = backend.bind(parsed)
    assert binding.problem is None and str(binding.params[0]).startswith("SKU")
    plans = backend.compare(
        executable(sql),
        binding.params,
        "index_app_item",
        'CREATE INDEX "t_sku" ON "index_app_item" ("sku")',
    )
    assert plans is not None
    before, after = plans
    assert not any("sku" in i for i in before.indexes)
    assert any("sku" in i for i in after.indexes)
    assert after.cost < before.cost
    # nothing of the what-if stays behind
    assert "t_sku" not in {i.name for i in backend._read_indexes("index_app_item")}
    cost = backend.insert_cost("index_app_hit", ["index_hit_ip_crt_idx"])
    assert cost is not None and cost.rows == 300 and cost.with_ms > 0 and cost.without_ms > 0
    assert "index_hit_ip_crt_idx" in {i.name for i in backend._read_indexes("index_app_hit")}


@pytest.mark.django_db(databases=ALIASES, transaction=True)
def test_capability_flags(alias: str) -> None:
    backend = backend_for(alias)
    # HypoPG is installed with the CI services; SQLite verifies on a scratch copy instead.
    assert backend.supports_hypothetical_indexes is (alias == "postgres")
    assert backend.iexact_uses_upper is (connections[alias].vendor == "postgresql")
    assert (backend.index_scans("index_app_item") is not None) is backend.has_index_usage_stats


@pytest.mark.django_db(transaction=True)
def test_sqlite_scratch_copy_refuses_an_open_transaction() -> None:
    from django.db import transaction

    backend = backend_for("default")
    with transaction.atomic():
        Item.objects.count()
        # the backup would wait forever on the transaction's own lock: refused, not hung
        assert backend.explain("SELECT 1", []) is None
