"""The docs are checked: every command, setting, check id and report field is documented."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import click
import pytest

from django_pareto.cli.main import cli
from django_pareto.conf import ParetoSettings

DOCS = Path(__file__).resolve().parent.parent / "docs"
SRC = Path(__file__).resolve().parent.parent / "src" / "django_pareto"


def commands(group: click.Group, prefix: str = "") -> list[str]:
    names = []
    for name, command in group.commands.items():
        names.append(prefix + name)
        if isinstance(command, click.Group):
            names += commands(command, prefix + name + " ")
    return names


@pytest.mark.parametrize("command", commands(cli))
def test_every_command_is_in_the_readme(command: str) -> None:
    assert f"pareto {command}" in (DOCS.parent / "README.md").read_text()


@pytest.mark.parametrize("key", [f.name for f in dataclasses.fields(ParetoSettings)])
def test_every_setting_is_documented(key: str) -> None:
    assert f"| `{key}` |" in (DOCS / "settings.md").read_text()


def test_every_check_id_has_a_heading() -> None:
    ids = set(re.findall(r'id="(pareto\.[A-Z]\d{3})"', (SRC / "checks.py").read_text()))
    assert ids, "no check ids found"
    headings = set(
        re.findall(r"^## (pareto\.[A-Z]\d{3})$", (DOCS / "findings.md").read_text(), re.M)
    )
    assert ids <= headings


def test_every_report_field_is_documented(tmp_path: Path) -> None:
    from django_pareto.report.build import build_report
    from django_pareto.store.sqlite import SQLiteStore
    from tests.test_report import q, request

    store = SQLiteStore(tmp_path / "s.sqlite3")
    store.ensure_schema()
    store.write("r", [request(0, "GET /a/", 10, 5, events=[q("SELECT 1 FROM t", 5)])])
    report = build_report(store, "r")
    schema = (DOCS / "report-schema.md").read_text()
    fields = set(report) | set(report["endpoints"][0]) | set(report["queries"][0])
    missing = sorted(f for f in fields if f"`{f}`" not in schema)
    assert not missing, f"undocumented report fields: {missing}"


def test_every_analyzer_finding_id_has_a_heading() -> None:
    from django_pareto.analyze.base import BUILTIN_ANALYZERS, load_analyzers

    headings = set(
        re.findall(r"^## (pareto\.[A-Z]\d{3})$", (DOCS / "findings.md").read_text(), re.M)
    )
    ids = {i for analyzer in load_analyzers(BUILTIN_ANALYZERS) for i in analyzer.ids}
    assert ids and ids <= headings, sorted(ids - headings)
