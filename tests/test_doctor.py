"""The doctor's framework: analyzers registered by dotted path, findings ranked, schema map."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from django_pareto.analyze.schema import SchemaMap
from django_pareto.cli.main import cli
from django_pareto.doctor import diagnose
from django_pareto.store.sqlite import SQLiteStore
from tests.test_report import q, request
from tests.testapp.models import Author, Book

CUSTOM = ["tests.analyzers.CountPerTable"]


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    store.ensure_schema()
    store.write("r", [
        request(0, "GET /a/", 100, 60, events=[q("SELECT * FROM big WHERE id = 1", 50),
                                              q("SELECT * FROM small", 10)]),
        request(1, "GET /b/", 30, 20, events=[q("SELECT * FROM small WHERE x = 2", 20)]),
    ])  # fmt: skip
    return store


def test_findings_are_ranked_by_time_saved(store: SQLiteStore) -> None:
    diagnosis = diagnose(store, "r", analyzers=CUSTOM)
    assert [(f.obj, f.savings_ms) for f in diagnosis.findings] == [("big", 50), ("small", 30)]
    assert diagnosis.notes == {"count-per-table": ["2 requests read"]}
    data = diagnosis.to_dict()
    assert data["schema_version"] == 1
    assert data["findings"][0]["fix"]["summary"] == "nothing to do"


def test_an_analyzer_path_must_name_an_analyzer(store: SQLiteStore) -> None:
    with pytest.raises(TypeError, match="is not an Analyzer subclass"):
        diagnose(store, "r", analyzers=["tests.test_doctor.test_findings_are_ranked_by_time_saved"])
    with pytest.raises(ImportError):
        diagnose(store, "r", analyzers=["tests.nope.Missing"])


def test_cli_doctor_uses_the_analyzers_setting(store: SQLiteStore, settings: object) -> None:
    settings.PARETO = {"STORE": str(store.path), "ANALYZERS": CUSTOM}  # type: ignore[attr-defined]
    runner = CliRunner()
    result = runner.invoke(
        cli, ["doctor", "--run", "r", "--format", "json"], obj={"django_ready": True}
    )
    assert result.exit_code == 0, result.output
    assert [f["obj"] for f in json.loads(result.output)["findings"]] == ["big", "small"]
    result = runner.invoke(cli, ["doctor"], obj={"django_ready": True})
    assert result.exit_code == 0, result.output
    assert "2 finding(s) for run r" in result.output and "tests.T001" in result.output


def test_schema_maps_tables_and_columns_back_to_models() -> None:
    schema = SchemaMap()
    assert schema.model("testapp_book") is Book
    assert schema.field("testapp_book", "author_id").name == "author"  # type: ignore[union-attr]
    assert schema.model("nope") is None and schema.field("testapp_book", "nope") is None
    book = {(r.accessor, r.kind, r.target) for r in schema.relations(Book)}
    assert ("author", "forward_fk", Author) in book
    author = {(r.accessor, r.kind) for r in schema.relations(Author)}
    assert ("books", "reverse_fk") in author


def test_schema_knows_many_to_many_and_one_to_one() -> None:
    from blog.models import Article, Profile

    schema = SchemaMap()
    assert schema.model("blog_article_tags") is not None  # the auto-created through table
    article = {(r.accessor, r.kind) for r in schema.relations(Article)}
    assert ("tags", "m2m") in article and ("comments", "reverse_fk") in article
    profile = {(r.accessor, r.kind) for r in schema.relations(Profile)}
    assert ("user", "one_to_one") in profile
