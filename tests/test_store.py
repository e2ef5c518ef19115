"""The store: concurrent writers, faults that never reach the request, PostgreSQL."""

from __future__ import annotations

import logging
import multiprocessing
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from django_pareto.capture import callsite, health
from django_pareto.store import Store, StoreError
from django_pareto.store.postgresql import PostgreSQLStore
from django_pareto.store.records import QueryEvent, RequestRecord
from django_pareto.store.sqlite import SQLiteStore

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent


def make_record(i: int, queries: int = 2, endpoint: str = "GET /x/") -> RequestRecord:
    return RequestRecord(
        id=10_000_000 + i,
        endpoint=endpoint,
        view_name="x",
        method="GET",
        status=200,
        started_at=1_700_000_000.0 + i,
        duration_ms=10.0,
        db_ms=4.0,
        query_count=queries,
        sampled=True,
        weight=1.0,
        queries=[
            QueryEvent(
                f"SELECT * FROM t WHERE id = {i}", "default", 2.0, ("app.py", 3, "f"), i, [i]
            )
            for _ in range(queries)
        ],
    )


WRITER_SCRIPT = textwrap.dedent(
    """
    import os, random, sys
    import django
    from django.conf import settings
    settings.configure(
        INSTALLED_APPS=["django_pareto"], DATABASES={},
        PARETO={"STORE": sys.argv[1], "RUN": "shared", "RETENTION_DAYS": None},
    )
    django.setup()
    from django_pareto.capture.writer import get_writer
    from django_pareto.capture.health import snapshot
    from django_pareto.store.records import QueryEvent, RequestRecord
    writer = get_writer()
    for i in range(int(sys.argv[2])):
        writer.submit("shared", RequestRecord(
            id=random.getrandbits(63), endpoint=f"GET /p{os.getpid() % 2}/", view_name="v",
            method="GET", status=200, started_at=float(i), duration_ms=1.0, db_ms=0.5,
            query_count=3, sampled=True, weight=1.0,
            queries=[QueryEvent(f"SELECT {j} FROM t{j}", "default", 0.1, ("a.py", j, "f"))
                     for j in range(3)]))
    assert writer.flush(120), "not drained"
    print(snapshot())
    """
)


def test_two_processes_recording_into_one_store_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    n = 1500
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER_SCRIPT, str(path), str(n)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
        assert "'faults': {}" in out and "'dropped': {}" in out, out
    store = SQLiteStore(path)
    assert len(store.request_rows("shared")) == 2 * n
    groups = store.query_groups("shared")
    assert sum(g.calls for g in groups) == 2 * n * 3
    assert {g.sql for g in groups} == {
        "SELECT %s FROM t0",
        "SELECT %s FROM t1",
        "SELECT %s FROM t2",
    }


def test_unwritable_store_leaves_requests_at_200_and_reports_the_fault(
    tmp_path: Path, settings: object, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings.PARETO = {"STORE": str(blocker / "store.sqlite3"), "RUN": "test"}  # type: ignore[attr-defined]
    health.reset()
    from django_pareto.capture.writer import get_writer

    with caplog.at_level(logging.WARNING, logger="django_pareto"):
        responses = [Client().get("/k/3/").status_code for _ in range(5)]
        get_writer().flush()
    assert responses == [200] * 5
    state = health.snapshot()
    assert state["faults"]["store"] >= 1  # type: ignore[index]
    assert state["dropped"]["store_error"] == 5  # type: ignore[index]
    assert "store fault (requests are unaffected)" in caplog.text


def test_corrupt_store_is_reported_and_left_untouched(tmp_path: Path, settings: object) -> None:
    path = tmp_path / "store.sqlite3"
    garbage = b"this is not a sqlite file at all" * 200
    path.write_bytes(garbage)
    settings.PARETO = {"STORE": str(path), "RUN": "test"}  # type: ignore[attr-defined]
    health.reset()
    from django_pareto.capture.writer import get_writer

    assert Client().get("/k/2/").status_code == 200
    get_writer().flush()
    assert health.snapshot()["faults"]["store"] >= 1  # type: ignore[index]
    assert "is corrupt" in str(health.snapshot()["last_error"])
    assert path.read_bytes() == garbage
    with pytest.raises(StoreError, match=r"is corrupt .* move it aside"):
        SQLiteStore(path).ensure_schema()


def test_a_capture_fault_never_breaks_the_request(
    recorded: Callable[[], Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("call site lookup failed")

    monkeypatch.setattr(callsite, "find_for", broken)
    assert Client().get("/k/4/").status_code == 200
    assert health.snapshot()["faults"]["capture"] == 4  # type: ignore[index]
    (row,) = recorded().request_rows("test")
    assert row.query_count == 4  # the count survives; only the detail was lost


def test_full_queue_drops_and_counts(store_path: Path, settings: object) -> None:
    settings.PARETO = {  # type: ignore[attr-defined]
        "STORE": str(store_path),
        "RUN": "test",
        "QUEUE_SIZE": 1,
        "RETENTION_DAYS": None,  # the records carry old timestamps
    }
    from django_pareto.capture.writer import get_writer

    writer = get_writer()
    for i in range(200):
        writer.submit("test", make_record(i, queries=0))
    writer.flush()
    dropped = health.snapshot()["dropped"].get("queue_full", 0)  # type: ignore[attr-defined]
    written = len(SQLiteStore(store_path).request_rows("test"))
    assert dropped > 0
    assert dropped + written == 200


def test_runs_are_named_listed_and_deleted(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    store.ensure_schema()
    store.write("before", [make_record(i) for i in range(3)])
    store.write("after", [make_record(100 + i) for i in range(2)])
    assert [(r.name, r.requests) for r in store.runs()] == [("before", 3), ("after", 2)]
    assert store.delete_run("before")
    assert not store.delete_run("before")
    assert [r.name for r in store.runs()] == ["after"]
    assert store.request_rows("before") == []
    assert sum(g.calls for g in store.query_groups("after")) == 4


def test_params_are_not_stored_unless_asked(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    store.ensure_schema()
    store.write("r", [make_record(1)])
    store.write("r2", [make_record(2)], keep_params=True)
    rows = store._execute("SELECT params FROM pareto_query ORDER BY request_id")
    assert rows == [(None,), ("[2]",)]


@pytest.mark.django_db(databases=["default", "postgres"])
def test_postgresql_store_round_trip(postgres_alias: str) -> None:
    store = PostgreSQLStore(postgres_alias)
    store.ensure_schema()
    store.write("pg-run", [make_record(i, endpoint=f"GET /e{i % 2}/") for i in range(10)])
    rows = store.request_rows("pg-run")
    assert len(rows) == 10
    assert {r.endpoint for r in rows} == {"GET /e0/", "GET /e1/"}
    assert sum(g.calls for g in store.query_groups("pg-run")) == 20
    assert "pg-run" in [r.name for r in store.runs()]
    assert store.delete_run("pg-run")
    assert store.run("pg-run") is None


def test_postgresql_store_refuses_a_non_postgresql_alias() -> None:
    with pytest.raises(StoreError, match="must name a PostgreSQL database"):
        PostgreSQLStore("default")
    with pytest.raises(StoreError, match="not in DATABASES"):
        PostgreSQLStore("nope")


@pytest.mark.django_db(databases=["default", "postgres"])
def test_queries_on_postgresql_are_captured_with_their_alias(
    postgres_alias: str, recorded: Callable[[], Store]
) -> None:
    assert Client().get(f"/on/{postgres_alias}/5/").status_code == 200
    store = recorded()
    (row,) = store.request_rows("test")
    assert row.query_count == 5
    aliases = store._execute("SELECT DISTINCT alias FROM pareto_query")
    assert aliases == [(postgres_alias,)]


@pytest.mark.django_db(databases=["default", "postgres"])
def test_capture_into_a_postgresql_store_never_records_its_own_queries(
    postgres_alias: str, settings: object
) -> None:
    settings.PARETO = {"STORE_ALIAS": postgres_alias, "RUN": "pg-live"}  # type: ignore[attr-defined]
    from django_pareto.capture.writer import get_writer
    from django_pareto.store import open_store

    for k in (1, 2, 3):
        assert Client().get(f"/on/{postgres_alias}/{k}/").status_code == 200
    assert get_writer().flush()
    store = open_store()
    try:
        assert [r.query_count for r in store.request_rows("pg-live")] == [1, 2, 3]
        groups = store.query_groups("pg-live")
        assert sum(g.calls for g in groups) == 6
        assert all(not t.startswith("pareto_") for g in groups for t in g.tables)
    finally:
        store.delete_run("pg-live")


def test_prune_deletes_old_requests_and_empty_runs(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    store.ensure_schema()
    store.write("old", [make_record(i) for i in range(3)])  # started at 1_700_000_000 + i
    store.write("mixed", [make_record(10), make_record(20)])
    store._execute("UPDATE pareto_run SET created_at = 0")
    assert store.prune(before=1_700_000_015.0) == 4
    assert [(r.name, r.requests) for r in store.runs()] == [("mixed", 1)]
    assert sum(g.calls for g in store.query_groups("mixed")) == 2
    assert store._execute("SELECT SUM(calls) FROM pareto_query") == [(2,)]


def test_repeated_executions_are_one_row_that_tells_a_loop_from_a_repeat(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    store.ensure_schema()
    loop = [
        QueryEvent("SELECT * FROM a WHERE id = %s", "default", 1.0, ("v.py", 9, "f"), k)
        for k in (1, 2, 3, 4)
    ]
    repeat = [
        QueryEvent("SELECT * FROM b WHERE id = %s", "default", 3.0, ("v.py", 20, "g"), 7)
        for _ in range(3)
    ]
    other_line = [QueryEvent("SELECT * FROM b WHERE id = %s", "default", 5.0, ("v.py", 30, "h"), 7)]
    record = make_record(1, queries=0)
    record.queries = [loop[0], repeat[0], *loop[1:], *repeat[1:], *other_line]
    store.write("r", [record])
    rows = store._execute(
        "SELECT c.lineno, first_seq, calls, total_ms, max_ms, distinct_params, max_repeats "
        "FROM pareto_query q JOIN pareto_callsite c ON c.id = q.callsite_id ORDER BY c.lineno"
    )
    assert rows == [
        (9, 0, 4, 4.0, 1.0, 4, 1),
        (20, 1, 3, 9.0, 3.0, 1, 3),
        (30, 7, 1, 5.0, 5.0, 1, 1),
    ]


def test_a_store_of_another_layout_is_refused_and_left_untouched(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE pareto_run (id INTEGER PRIMARY KEY, name TEXT)")
    old.execute("INSERT INTO pareto_run VALUES (1, 'precious')")
    old.commit()
    old.close()
    with pytest.raises(StoreError, match=r"another version of django-pareto .* left untouched"):
        SQLiteStore(path).ensure_schema()
    assert sqlite3.connect(path).execute("SELECT name FROM pareto_run").fetchall() == [
        ("precious",)
    ]
    store = SQLiteStore(tmp_path / "new.sqlite3")
    store.ensure_schema()
    store.ensure_schema()  # idempotent on its own layout
    assert store._execute("SELECT value FROM pareto_meta") == [("2",)]


def _open_new_store(path: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    try:
        SQLiteStore(Path(path)).ensure_schema()
        results.put("ok")
    except StoreError as exc:
        results.put(str(exc))


def test_processes_creating_the_same_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    # Switching a new file to WAL races between processes; SQLite answers "locked" at once.
    ctx = multiprocessing.get_context("fork")
    outcomes: list[str] = []
    for trial in range(25):
        barrier, results = ctx.Barrier(4), ctx.Queue()
        procs = [
            ctx.Process(
                target=_open_new_store, args=(str(tmp_path / f"{trial}.sqlite3"), barrier, results)
            )
            for _ in range(4)
        ]
        for p in procs:
            p.start()
        outcomes += [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=60)
    assert outcomes == ["ok"] * 100
