"""pareto fix / verify / compare end to end: a recorded run, a migration, a scratch replay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from django.contrib.auth.models import User
from django.db import connection

from django_pareto import api
from django_pareto.api import RunExists
from django_pareto.cli.main import cli
from django_pareto.store.sqlite import SQLiteStore
from tests.test_report import request
from tests.testapp.models import Author, Book

WORKLOAD = """
[workload]
name = "books"
seed = 3

[params.author]
from = "testapp.Author.id"

[[requests]]
name = "by author"
path = "/books/by-author/{author}/"
"""


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), obj={"django_ready": True})


@pytest.fixture
def canned(store_path: Path, settings: Any) -> SQLiteStore:
    """A store with run "before" whose doctor reports tests.fix.helpers.EVERYTHING."""
    settings.PARETO = {**settings.PARETO, "ANALYZERS": ["tests.fix.helpers.Canned"]}
    store = SQLiteStore(store_path)
    store.ensure_schema()
    store.write("before", [request(0, "GET /a/", 10, 5)])
    return store


def test_fix_dry_run_prints_and_writes_nothing(fixapp: Path, canned: SQLiteStore) -> None:
    result = invoke("fix", "--run", "before", "--app", "pareto_fixapp")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Would write (dry run; pass --write to write it)" in out
    assert "0002_pareto_indexes.py" in out
    assert "RunSQL migration of app 'pareto_fixapp'" in out  # auth.User's index, said so
    assert "skipped pareto.X001" in out and "--allow-drop" in out
    assert 'Article.objects.select_related("author")' in out and "blog/views.py:42" in out
    assert "Add to Article.Meta.indexes" in out
    assert sorted(p.name for p in (fixapp / "migrations").iterdir()) == [
        "0001_initial.py",
        "__init__.py",
    ]


def test_fix_write(fixapp: Path, canned: SQLiteStore) -> None:
    result = invoke("fix", "--run", "before", "--app", "pareto_fixapp", "--write", "--allow-drop")
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.output
    text = (fixapp / "migrations" / "0002_pareto_indexes.py").read_text()
    assert "RemoveIndex" in text and "RunSQL" in text


def test_fix_only_some_findings(fixapp: Path, canned: SQLiteStore) -> None:
    result = invoke("fix", "--run", "before", "--app", "pareto_fixapp", "--only", "N001")
    assert result.exit_code == 0, result.output
    assert 'Article.objects.select_related("author")' in result.output  # the N001 hint
    assert "0002_pareto_indexes.py" not in result.output  # no I001 / X001 migration
    assert "skipped pareto.X001" not in result.output
    both = invoke("fix", "--run", "before", "--only", "pareto.N001", "--only", "X001")
    assert "skipped pareto.X001" in both.output and "Add to Article.Meta.indexes" not in both.output


def test_fix_names_a_bad_app(fixapp: Path, canned: SQLiteStore) -> None:
    result = invoke("fix", "--run", "before", "--app", "auth")
    assert result.exit_code == 1
    assert "--app auth: not an installed app of this project" in result.output


def test_compare_json(canned: SQLiteStore) -> None:
    canned.write("after", [request(1, "GET /a/", 5, 1)])
    result = invoke("compare", "before", "after", "--format", "json")
    assert result.exit_code == 0, result.output
    total = json.loads(result.output)["total"]
    assert total["ratio"]["p50_ms"] == 2.0
    assert "before -> after" in invoke("compare", "before", "after").output


@pytest.fixture
def workload(tmp_path: Path, store_path: Path) -> Path:
    for i in range(3):
        author = Author.objects.create(name=f"a{i}")
        Book.objects.bulk_create(Book(author=author, title=f"t{i}{j}") for j in range(3))
    User.objects.create_user("alice")
    path = tmp_path / "workload.toml"
    path.write_text(WORKLOAD)
    return path


def tables() -> list[str]:
    return connection.introspection.table_names()


@pytest.mark.django_db(transaction=True)
def test_verify_on_a_scratch_copy(fixapp: Path, workload: Path) -> None:
    from django_pareto.fix import plan_fixes, write_migrations
    from tests.fix.helpers import FEATURED, add, diagnosis

    api.record(workload, requests=12, run="before")
    (path,) = write_migrations(plan_fixes(diagnosis(add(FEATURED)), "sqlite"))
    with pytest.raises(RunExists, match="run 'before' already exists"):
        api.verify("before", apply=[str(path)], after="before", workload=workload)
    # No --workload: the "before" run remembers the file it replayed.
    result = invoke("verify", "--run", "before", "--apply", str(path), "--as", "after")
    assert result.exit_code == 0, result.output
    assert "TOTAL" in result.output
    data = api.compare("before", "after")
    assert data["total"]["before"]["requests"] == data["total"]["after"]["requests"] == 12
    # The same seed drew the same requests.
    assert [e["endpoint"] for e in data["endpoints"]] == ["GET /books/by-author/<int:author_id>/"]
    # Migrated on the copy only: the real (test) database has no table of the app.
    assert "pareto_fixapp_article" not in tables()
    assert Author.objects.count() == 3
