"""I001 on real SQLite and PostgreSQL: advised indexes are verified, decoys are not flagged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from django_pareto.analyze.context import AnalysisContext
from django_pareto.analyze.findings import Finding
from django_pareto.analyze.indexes import MissingIndexAnalyzer
from django_pareto.store import Store
from tests.index_app import scenario
from tests.index_app.models import Item, Kind, Member


def cases(using: str) -> list[scenario.Case]:
    items = Item.objects.using(using)
    owner = Member.objects.using(using).get(handle="Member00003")
    return [
        ("GET /sku/", lambda: list(items.filter(sku="SKU001234")), 5.0),
        (
            "GET /latest/",
            lambda: list(items.filter(visible=True).order_by("-created_at")[:20]),
            8.0,
        ),
        ("GET /owner/", lambda: list(items.filter(owner=owner).order_by("-created_at")[:10]), 4.0),
        # decoys
        ("GET /count/", lambda: items.filter(visible=True).count(), 3.0),  # 95% true
        ("GET /slug/", lambda: list(items.filter(slug="item-7", visible=True)), 2.0),  # unique
        ("GET /owner-count/", lambda: items.filter(owner=owner).count(), 2.0),  # FK index
        ("GET /kind/", lambda: list(Kind.objects.using(using).filter(code="k3")), 1.0),  # 5 rows
        (
            "GET /member/",
            lambda: list(Member.objects.using(using).filter(handle__iexact="member00042")),
            6.0,
        ),
    ]


def by_label(findings: list[Finding]) -> dict[str, Finding]:
    return {f.obj or "": f for f in findings}


def diagnose(tmp_path: Path, using: str) -> tuple[dict[str, Finding], list[str]]:
    scenario.fill(using)
    context = scenario.record(tmp_path, using, cases(using))
    result = MissingIndexAnalyzer().analyze(context)
    return by_label(result.findings), result.notes


COMMON = {
    "index_app_item (sku)",
    "index_app_item (created_at DESC)",
    "index_app_item (owner_id, created_at DESC)",
}


def assert_common(found: dict[str, Finding], notes: list[str]) -> None:
    assert set(found) >= COMMON
    assert "index_app_item (visible)" not in found
    assert any(n.startswith("index_app_item (visible): not indexed alone") for n in notes)
    assert any(
        n.startswith("index_app_kind (code): not indexed: the table has 5 rows") for n in notes
    )
    assert any(n.startswith("index_app_item (slug): served by") for n in notes)
    assert any(n.startswith("index_app_item (owner_id): served by") for n in notes)
    sku = found["index_app_item (sku)"]
    spec = sku.fix.add_index
    assert spec is not None
    assert (spec.app_label, spec.model, spec.fields, spec.columns) == (
        "index_app",
        "Item",
        ("sku",),
        ("sku",),
    )
    assert len(spec.name) <= 30
    assert sku.endpoints == ("GET /sku/",)
    assert sku.evidence["improvement"] >= 2
    assert 0 < sku.savings_ms <= 5.0
    owner = found["index_app_item (owner_id, created_at DESC)"].fix.add_index
    assert owner is not None and owner.fields == ("owner", "-created_at")


# The scratch copy is sqlite3's backup, which waits forever on a database in a transaction.
@pytest.mark.django_db(transaction=True)
def test_missing_indexes_on_sqlite(tmp_path: Path) -> None:
    found, notes = diagnose(tmp_path, "default")
    assert_common(found, notes)
    # SQLite compiles iexact to LIKE: no index serves it, so none is advised.
    assert not any("index_app_member" in label for label in found), found.keys()
    assert found["index_app_item (sku)"].evidence["verified_with"] == "scratch copy"


@pytest.mark.django_db(databases=["default", "postgres"], transaction=True)
def test_missing_indexes_on_postgresql(tmp_path: Path, postgres_alias: str) -> None:
    found, notes = diagnose(tmp_path, postgres_alias)
    assert_common(found, notes)
    upper = found["index_app_member (UPPER(handle))"]
    spec = upper.fix.add_index
    assert spec is not None and spec.expressions == ('Upper("handle")',)
    assert 'UPPER("handle")' in spec.sql
    assert upper.evidence["verified_with"] == "HypoPG"
    assert upper.evidence["alias"] == postgres_alias


@pytest.mark.django_db(transaction=True)
@pytest.mark.urls("tests.index_app.urls")
def test_a_recorded_run_of_real_requests(recorded: Callable[[], Store]) -> None:
    scenario.fill("default", hits=0)
    client = Client()
    for i in range(3):
        assert client.get(f"/items/SKU00{i}123/").status_code == 200
        assert client.get("/kinds/k2/").status_code == 200
    store = recorded()
    run = store.run("test")
    assert run is not None
    result = MissingIndexAnalyzer().analyze(AnalysisContext(store, run))
    (finding,) = result.findings
    assert finding.obj == "index_app_item (sku)"
    assert finding.endpoints == ("GET /items/<str:sku>/",)
    assert "index_app_kind (code): not indexed: the table has 5 rows" in result.notes


@pytest.mark.django_db(transaction=True)
def test_a_table_without_a_model_gets_sql_only(tmp_path: Path) -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE legacy_event (id INTEGER PRIMARY KEY, code TEXT)")
        cursor.executemany(
            "INSERT INTO legacy_event (code) VALUES (%s)", [(f"c{i}",) for i in range(2000)]
        )
    try:
        cases = [
            ("GET /legacy/", lambda: raw("SELECT id FROM legacy_event WHERE code = 'c7'"), 3.0)
        ]
        context = scenario.record(tmp_path, "default", cases)
        (finding,) = MissingIndexAnalyzer().analyze(context).findings
        spec = finding.fix.add_index
        assert spec is not None
        assert (spec.model, spec.app_label, spec.columns) == ("", "", ("code",))
        assert spec.sql.startswith('CREATE INDEX "legacy_even_code_') and '("code")' in spec.sql
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE legacy_event")


def raw(sql: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql)


def test_nothing_to_analyze_says_so(tmp_path: Path) -> None:
    context = scenario.record(tmp_path, "default", [])
    result = MissingIndexAnalyzer().analyze(context)
    assert result.findings == [] and result.notes == []
