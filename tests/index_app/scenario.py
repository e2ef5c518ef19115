"""Data and recorded runs for the index analyzers' tests, on any database alias.

The SQL recorded is what Django really executed for real querysets on that alias (captured
with ``CaptureQueriesContext``), written to a store as a run, so the analyzers see exactly
what capture would have stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from django.db import connections
from django.test.utils import CaptureQueriesContext

from django_pareto.analyze.context import AnalysisContext
from django_pareto.store.records import QueryEvent, RequestRecord
from django_pareto.store.sqlite import SQLiteStore
from tests.index_app.models import Hit, Item, Kind, Member

ITEMS = 8_000  # a scan of this many rows is several times an index probe, even timed
MEMBERS = 3_000
OWNERS = 20  # items belong to the first 20 members: 400 items each
KINDS = 5
SITE = ("tests/index_app/views.py", 10, "view")
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def fill(using: str, hits: int = 300) -> None:
    """A few thousand rows: big enough that an index matters, small enough to be quick."""
    kinds = Kind.objects.using(using).bulk_create(
        Kind(code=f"k{i}", label=f"Kind {i}") for i in range(KINDS)
    )
    members = Member.objects.using(using).bulk_create(
        Member(handle=f"Member{i:05d}", city=f"city{i % 50}") for i in range(MEMBERS)
    )
    items = Item.objects.using(using).bulk_create(
        Item(
            slug=f"item-{i}",
            owner=members[i % OWNERS],
            kind=kinds[i % KINDS],
            sku=f"SKU{i:06d}",
            visible=i % 20 != 0,  # 95% true
            score=i % 100,
            created_at=START + dt.timedelta(minutes=i),
        )
        for i in range(ITEMS)
    )
    Hit.objects.using(using).bulk_create(
        Hit(item=items[i % 50], path=f"/i/{i % 50}/", ip=f"10.0.0.{i % 7}", created_at=START)
        for i in range(hits)
    )


Case = tuple[str, Callable[[], Any], float]  # endpoint, code that runs queries, ms per query


def capture(using: str, code: Callable[[], Any]) -> list[str]:
    with CaptureQueriesContext(connections[using]) as queries:
        code()
    return [q["sql"] for q in queries.captured_queries]


def raw_sql(using: str, code: Callable[[], Any]) -> list[str]:
    """The SQL of ``code`` with Django's placeholders (what capture's hook receives)."""
    seen: list[str] = []

    def hook(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connections[using].execute_wrapper(hook):
        code()
    return seen


def record(tmp_path: Path, using: str, cases: Sequence[Case], run: str = "run") -> AnalysisContext:
    store = SQLiteStore(tmp_path / "store.sqlite3")
    store.ensure_schema()
    records = []
    for i, (endpoint, code, ms) in enumerate(cases):
        events = [QueryEvent(sql, using, ms, SITE) for sql in raw_sql(using, code)]
        records.append(
            RequestRecord(
                id=i,
                endpoint=endpoint,
                view_name="view",
                method="GET",
                status=200,
                started_at=1000.0 + i,
                duration_ms=ms * len(events) + 1,
                db_ms=ms * len(events),
                query_count=len(events),
                sampled=True,
                weight=1.0,
                queries=events,
            )
        )
    store.write(run, records)
    info = store.run(run)
    assert info is not None
    return AnalysisContext(store, info)
