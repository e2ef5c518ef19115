"""X001 and X002 on real SQLite and PostgreSQL, over the index_app's duplicate and log indexes."""

from __future__ import annotations

from pathlib import Path

import pytest

from django_pareto.analyze.overindex import OverIndexAnalyzer
from tests.index_app import scenario
from tests.index_app.models import Hit, Item


def run(tmp_path: Path, using: str) -> tuple[dict[str, object], list[str]]:
    scenario.fill(using)
    items = Item.objects.using(using)
    item = items.get(slug="item-3")

    def log_hit() -> None:
        Hit.objects.using(using).create(
            item=item, path="/i/3/", ip="10.0.0.1", created_at=scenario.START
        )

    cases: list[scenario.Case] = [
        ("GET /item/", lambda: items.get(slug="item-3"), 1.0),
        ("GET /top/", lambda: list(items.filter(score__gte=90).order_by("score")[:10]), 2.0),
        *[("GET /item/", log_hit, 1.0)] * 5,
    ]
    context = scenario.record(tmp_path, using, cases)
    result = OverIndexAnalyzer().analyze(context)
    return {f"{f.id} {f.evidence['index']}": f for f in result.findings}, result.notes


def check(found: dict[str, object], notes: list[str]) -> None:
    keys = set(found)
    # the duplicate pair: the later name goes, the score+created_at index covers "score"
    assert "pareto.X001 index_item_score_dup" in keys
    assert not any("index_item_score_crt" in k for k in keys)
    # the write-only log: its non-FK indexes are unused; the FK index is kept
    assert "pareto.X002 index_hit_ip_crt_idx" in keys
    assert any(k.startswith("pareto.X002 index_app_hit_created_at") for k in keys), keys
    assert not any("item_id" in k for k in keys), keys
    assert any(
        "index_app_hit (item_id): kept: the only index led by foreign key" in n for n in notes
    )
    # never a primary key or unique constraint
    assert not any("pkey" in k or "slug" in k or "__unnamed" in k for k in keys)
    unused = found["pareto.X002 index_hit_ip_crt_idx"]
    assert unused.fix.remove_index.name == "index_hit_ip_crt_idx"  # type: ignore[attr-defined]
    assert unused.evidence["insert_rows_measured"] > 0  # type: ignore[attr-defined]
    assert unused.fix.summary.startswith("Remove models.Index(name='index_hit_ip_crt_idx')")  # type: ignore[attr-defined]


@pytest.mark.django_db(transaction=True)
def test_overindex_on_sqlite(tmp_path: Path) -> None:
    check(*run(tmp_path, "default"))


@pytest.mark.django_db(databases=["default", "postgres"], transaction=True)
def test_overindex_on_postgresql(tmp_path: Path, postgres_alias: str) -> None:
    check(*run(tmp_path, postgres_alias))
