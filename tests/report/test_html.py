"""``pareto report --html``: one self-contained page, escaped, drawn by a real browser."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from django.db import connection
from django.test import override_settings

from django_pareto import api
from django_pareto.analyze.base import Analyzer
from django_pareto.analyze.context import AnalysisContext
from django_pareto.analyze.findings import AnalyzerResult
from django_pareto.cli.main import cli
from django_pareto.report import html as html_module
from django_pareto.report.html import render_report_html
from django_pareto.report.page import summary_cards
from django_pareto.store import Store
from tests.report import xss_urls
from tests.report.browser import Browser, PageFacts, open_browser
from tests.report.test_charts import SCALE
from tests.testapp.models import Author, Book

pytestmark = pytest.mark.django_db

WORKLOAD = """
[workload]
name = "report"
seed = 3

[params.title]
from = "testapp.Book.title"

[params.author]
from = "testapp.Author.id"

[params.k]
range = [0, 3]

[[requests]]
weight = 3
path = "/books/by-author/{author}/"

[[requests]]
weight = 2
path = "/books/titled/{title}/"

[[requests]]
weight = 2
path = "/k/{k}/"

[[requests]]
path = "/cursor/"
"""

PAYLOAD = xss_urls.SCRIPT + xss_urls.IMG
# Every chart the page draws when it has a comparison and a scalability sweep.
CHARTS = {"endpoints", "queries", "latency", "breakdown", "compare_p95", "compare_queries", "scale"}


@pytest.fixture
def two_runs(tmp_path: Path, recorded: Callable[[], Store]) -> Store:
    """Runs "before" and "after" of the test app (an N+1 included), recorded for real."""
    authors = Author.objects.bulk_create(Author(name=f"a{i}") for i in range(3))
    Book.objects.bulk_create(Book(author=authors[i % 3], title=f"book {i}") for i in range(18))
    workload = tmp_path / "workload.toml"
    workload.write_text(WORKLOAD)
    api.record(workload, requests=40, run="before")
    api.record(workload, requests=40, run="after")
    return recorded()


def json_block(html: str, element_id: str) -> Any:
    found = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html)
    assert found, f"no json_script block {element_id!r}"
    return json.loads(found.group(1))


def roundtrip(value: Any) -> Any:
    return json.loads(json.dumps(value))


def assert_no_markup_from_data(html: str, scripts: int) -> None:
    """Only the page's own <script> elements, no <img> at all, every payload escaped."""
    assert html.count("<script") == scripts
    assert "<script>alert" not in html and "<img" not in html
    assert "&lt;script&gt;alert(" in html  # the payload reached the page, escaped
    assert "&quot;&gt;&lt;img src=x onerror=alert(" in html


def test_the_page_is_self_contained(two_runs: Store, tmp_path: Path) -> None:
    path = api.report_html(
        path=tmp_path / "out" / "r.html", compare=("before", "after"), scale=SCALE
    )
    html = path.read_text()
    assert not re.search(r"<script[^>]*\bsrc=", html)
    assert not re.search(r"""\b(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert not re.search(r"<link[^>]*stylesheet", html)
    assert "Chart.js v4" in html and "sourceMappingURL" not in html
    assert "Content-Security-Policy" in html
    # The data blocks are exactly what the API returns; --run defaults to the second run.
    assert json_block(html, "pareto-report") == roundtrip(api.report("after"))
    assert json_block(html, "pareto-comparison") == roundtrip(api.compare("before", "after"))
    assert json_block(html, "pareto-scale") == roundtrip(SCALE)
    diagnosis = json_block(html, "pareto-diagnosis")
    assert diagnosis["run"] == "after"
    assert diagnosis["findings"], "the test app's repeated author lookups give findings"
    assert html.count("data-finding=") == len(diagnosis["findings"])
    first = diagnosis["findings"][0]
    assert f'data-finding="{first["id"]}"' in html and "<summary>Evidence</summary>" in html
    assert set(json_block(html, "pareto-charts")) == CHARTS
    assert len(re.findall(r"data-metric=", html)) == 8
    for section in ("summary", "endpoints", "queries", "latency", "breakdown", "findings",
                    "comparison", "scalability"):  # fmt: skip
        assert f'<section id="{section}">' in html


def test_optional_sections_only_when_given(two_runs: Store) -> None:
    html = render_report_html(api.report("before"))
    assert 'id="comparison"' not in html and 'id="scalability"' not in html
    assert "No diagnosis in this report." in html
    assert html.count("<script") == 4  # report and chart data, Chart.js, the page's script


class NeedsAMissingTable(Analyzer):
    """An analyzer whose database query fails, as when the database is out of reach."""

    name = "needs-a-missing-table"

    def analyze(self, context: AnalysisContext) -> AnalyzerResult:
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM pareto_tests_no_such_table")
        return AnalyzerResult()


def test_a_failing_doctor_leaves_a_note_not_a_failure(
    two_runs: Store, tmp_path: Path, settings: Any
) -> None:
    settings.PARETO = {
        **settings.PARETO,
        "ANALYZERS": [f"{__name__}.NeedsAMissingTable"],
    }
    html = api.report_html("before", path=tmp_path / "r.html").read_text()
    assert "No findings: the doctor could not analyze run &#x27;before&#x27;" in html
    assert "no such table: pareto_tests_no_such_table" in html
    assert "pareto-diagnosis" not in html and json_block(html, "pareto-report")["run"] == "before"


def test_it_renders_where_django_pareto_is_not_an_installed_app(two_runs: Store) -> None:
    report = api.report("before")
    html_module._engine.cache_clear()  # built afresh under the project's settings below
    try:
        with override_settings(INSTALLED_APPS=["django.contrib.contenttypes"], TEMPLATES=[]):
            html = render_report_html(report)
    finally:
        html_module._engine.cache_clear()
    assert json_block(html, "pareto-report")["requests"] == 40


def test_cli_writes_the_file_and_prints_its_path(two_runs: Store, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    runner = CliRunner()
    args = ["report", "--html", str(path), "--compare", "before", "after"]
    result = runner.invoke(cli, args, obj={"django_ready": True})
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(path.resolve())
    html = path.read_text()
    assert json_block(html, "pareto-comparison")["before"] == "before"
    assert json_block(html, "pareto-report")["run"] == "after"
    result = runner.invoke(cli, ["report", "--compare", "a", "b"], obj={"django_ready": True})
    assert result.exit_code == 2 and "--compare goes with --html" in result.output


# -- hostile text -------------------------------------------------------------------------


@pytest.fixture
def hostile_run(tmp_path: Path, recorded: Callable[[], Store], settings: Any) -> str:
    """A run whose name, workload name, routes and SQL all carry script payloads."""
    settings.ROOT_URLCONF = "tests.report.xss_urls"
    workload = tmp_path / "xss.toml"
    requests = "".join(f"[[requests]]\npath = '{p}'\n" for p in xss_urls.PATHS)
    workload.write_text(f"[workload]\nname = '{PAYLOAD}'\n{requests}")
    result = api.record(workload, requests=6, run=PAYLOAD)
    assert result.statuses == {200: 6}
    store = recorded()
    sql = {g.sql for g in store.query_groups(PAYLOAD)}
    assert any(xss_urls.SCRIPT.replace("1", "%s") in s for s in sql)  # stored as it was run
    assert any("<img src=x onerror=alert(%s)>" in s for s in sql)
    return PAYLOAD


def test_recorded_payloads_are_escaped(hostile_run: str, tmp_path: Path) -> None:
    html = api.report_html(hostile_run, path=tmp_path / "r.html", compare=(hostile_run,) * 2)
    text = html.read_text()
    # report, charts, diagnosis, comparison data; Chart.js; the page's script
    assert_no_markup_from_data(text, scripts=6)
    endpoints = {e["endpoint"] for e in json_block(text, "pareto-report")["endpoints"]}
    assert any("<script>alert" in e for e in endpoints)
    assert any("<img src=x" in e for e in endpoints)


def poison(value: Any) -> Any:
    """``value`` with the payload in front of every string in it."""
    if isinstance(value, str):
        return PAYLOAD + value
    if isinstance(value, dict):
        return {k: poison(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [poison(v) for v in value]
    return value


def poisoned_page(two_runs: Store, path: Path) -> Path:
    """Every string field of the report, diagnosis, comparison and scale carries payloads."""
    report = poison(api.report("before"))
    report["meta"][PAYLOAD] = PAYLOAD
    diagnosis = poison(api.doctor("before").to_dict())
    assert diagnosis["findings"], "the test app's repeated author lookups give findings"
    diagnosis["findings"][0]["evidence"][PAYLOAD] = [PAYLOAD]
    diagnosis["findings"][0]["fix"]["location"] = PAYLOAD
    diagnosis["notes"][PAYLOAD] = [PAYLOAD]
    comparison = poison(api.compare("before", "after"))
    scale = poison(SCALE)
    html = render_report_html(report, diagnosis, comparison, scale, title=PAYLOAD, notes=[PAYLOAD])
    path.write_text(html)
    return path


def test_every_string_field_is_escaped(two_runs: Store, tmp_path: Path) -> None:
    text = poisoned_page(two_runs, tmp_path / "poisoned.html").read_text()
    # report, charts, diagnosis, comparison, scale data; Chart.js; the page's script
    assert_no_markup_from_data(text, scripts=7)
    assert f"<title>{PAYLOAD}" not in text


# -- in a browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from open_browser()


def assert_clean(facts: PageFacts) -> None:
    assert facts.errors == [], facts.errors
    assert facts.requests == [], "the page tried the network"
    assert facts.dialogs == [] and facts.injected == 0


def test_the_browser_draws_every_chart_offline(
    browser: Browser, two_runs: Store, tmp_path: Path
) -> None:
    path = api.report_html(path=tmp_path / "r.html", compare=("before", "after"), scale=SCALE)
    report = json_block(path.read_text(), "pareto-report")
    facts = browser.inspect(path, "report.png")
    assert_clean(facts)
    assert set(facts.charts) == CHARTS and all(facts.charts.values())
    assert facts.ready == str(len(CHARTS))

    bars, cumulative, mark = facts.charts["endpoints"]["datasets"]
    assert len(bars["data"]) == len(report["endpoints"]) == facts.charts["endpoints"]["bars"]
    assert bars["data"] == [e["total_ms"] for e in report["endpoints"]]
    assert cumulative["data"][-1] == 100
    assert set(mark["data"]) == {80}
    queries = facts.charts["queries"]["datasets"]
    assert len(queries[0]["data"]) == len(report["queries"])
    assert facts.charts["latency"]["datasets"][0]["data"] == report["latency_histogram"]["counts"]
    db, app = facts.charts["breakdown"]["datasets"]
    first = report["endpoints"][0]
    assert db["data"][0] + app["data"][0] == pytest.approx(first["mean_ms"])
    compare = facts.charts["compare_p95"]["datasets"]
    assert [d["label"] for d in compare] == ["before", "after"]
    measured, _, peak, *_ = facts.charts["scale"]["datasets"]
    assert len(measured["data"]) == len(SCALE["points"])
    assert peak["data"] == [{"x": 7.3, "y": 450.0}]

    for card in summary_cards(report):
        shown = facts.metrics[card["metric"]]
        assert shown["text"] == card["text"]
        assert shown["value"] == pytest.approx(float(card["value"]))
    assert facts.metrics["p95"]["value"] == pytest.approx(report["latency_ms"]["p95"])
    assert facts.metrics["throughput"]["value"] == pytest.approx(report["throughput_rpm"])


def test_the_browser_runs_no_injected_script(
    browser: Browser, two_runs: Store, tmp_path: Path
) -> None:
    facts = browser.inspect(poisoned_page(two_runs, tmp_path / "p.html"), "report-xss.png")
    assert_clean(facts)
    assert set(facts.charts) == CHARTS and all(facts.charts.values())
    assert facts.scripts == 7
