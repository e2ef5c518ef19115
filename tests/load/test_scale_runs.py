"""A ``pareto scale`` result kept as a run (``--run NAME``): it holds no requests, so the
commands show the scalability result (``pareto report``, its HTML page) or refuse clearly
(``pareto doctor``, ``pareto compare``) instead of treating it as an empty run."""

from __future__ import annotations

import copy
import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from django_pareto import api
from django_pareto.cli.main import cli
from django_pareto.store import open_store
from tests.report.browser import Browser, open_browser
from tests.test_report import request

SCRIPT = "<script>alert(1)</script>"
VERDICT = (
    "Contention limits scaling (σ = 0.05, κ = 0.002): 5.0% of the work is serialized (a "
    "lock, a hot row, one database or one cache thread), so throughput levels off towards "
    "λ/σ = 2,000/s; a small coherency cost makes it peak at N* = 22; more workers add "
    "little: shorten the serialized part."
)
NECK_VERDICT = "PostgreSQL limited throughput: 93% of the cores it can use were busy."


def _point(workers: int, rps: float, p95: float, flat_out: float) -> dict[str, Any]:
    probes = [
        {"rate": None, "throughput_rps": flat_out, "p95_ms": p95 * 3, "errors": 0,
         "sent": int(flat_out * 5), "met": False, "why": "p95 above the objective"},
        {"rate": rps, "throughput_rps": rps, "p95_ms": p95, "errors": 0, "sent": int(rps * 5),
         "met": True, "why": "met"},
    ]  # fmt: skip
    return {
        "workers": workers,
        "throughput_rps": rps,
        "rate": rps,
        "p95_ms": p95,
        "closed_loop_rps": flat_out,
        "probes": probes,
        "server_timing": None,
        "resources": None,
        "bottleneck": {"component": "app" if workers < 4 else "postgresql",
                       "utilization": 0.8, "verdict": "busy", "evidence": []},
    }  # fmt: skip


# What ``ScaleResult.to_json()`` gives for 1, 2 and 4 workers, USL λ = 100, σ = 0.05,
# κ = 0.002 (UslFit.to_json() and the keys ScaleResult adds), PostgreSQL saturated; the
# bottleneck's evidence carries markup, as any text from a measured machine might.
SCALE: dict[str, Any] = {
    "kind": "scale",
    "objective": {"p95_ms": 200.0},
    "settings": {
        "workers": [1, 2, 4],
        "probe_seconds": 5.0,
        "steps": 5,
        "nginx": False,
        "processes": 1,
    },
    "points": [
        _point(1, 100.0, 120.5, 112.0),
        _point(2, 189.75, 150.25, 210.0),
        _point(4, 340.72, 180.75, 390.0),
    ],
    "usl": {
        "lambda_": 100.0,
        "sigma": 0.05,
        "kappa": 0.002,
        "r2": 0.998,
        "points": 3,
        "max_n": 4.0,
        "kappa_fixed": False,
        "notes": [],
        "peak_n": 21.794494717703365,
        "peak_throughput": 739.7654620621878,
        "verdict": VERDICT,
        "lambda": 100.0,
        "peak_workers": 21.794494717703365,
        "curve": [[1.0, 100.0], [2.0, 189.75], [4.0, 340.72], [21.8, 739.77], [44.6, 600.0]],
    },
    "usl_error": None,
    "bottleneck": {
        "component": "postgresql",
        "utilization": 0.93,
        "verdict": NECK_VERDICT,
        "evidence": [f"PostgreSQL: 372% CPU on average {SCRIPT}", "the machine: 61% busy"],
    },
}


def pareto(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), obj={"django_ready": True})


@pytest.fixture
def kept(store_path: Path) -> str:
    """A run of requests, "before", then the scale result kept as run "scale"."""
    open_store().write("before", [request(i, "GET /a/", 10.0 + i, 4.0) for i in range(3)])
    api.save_scale("scale", copy.deepcopy(SCALE))
    return "scale"


def test_the_api_reports_the_kept_result(kept: str) -> None:
    assert api.report(kept) == SCALE
    assert api.scale_result(kept) == SCALE
    # Without --run: the newest run of requests, not the newer scale result.
    assert api.report()["run"] == "before"
    assert api.is_scale_run(next(r for r in api.runs() if r.name == kept))


def test_a_scale_result_replaces_a_scale_result_never_a_run_of_requests(kept: str) -> None:
    newer = {**copy.deepcopy(SCALE), "usl_error": "newer"}
    api.save_scale(kept, newer)
    assert api.scale_result(kept) == newer
    with pytest.raises(api.RunExists, match="'before' is a run of requests"):
        api.save_scale("before", copy.deepcopy(SCALE))
    assert api.report("before")["requests"] == 3
    # pareto scale says so before it measures anything.
    done = pareto("scale", "--workload", "nowhere.toml", "--run", "before")
    assert done.exit_code == 1 and "'before' is a run of requests" in done.output


def test_report_prints_the_scalability_result(kept: str) -> None:
    done = pareto("report", "--run", kept)
    assert done.exit_code == 0, done.output
    out = done.output
    # The scale result alone: no (empty) report of requests before it.
    assert out.startswith("Capacity per worker count (p95 <= 200 ms")
    for cells in (("1", "100.0", "120.5", "112.0"), ("4", "340.7", "180.8", "390.0")):
        assert re.search(r"[\s│]+".join(re.escape(c) for c in cells), out), cells
    assert "Universal Scalability Law" in out and "Contention limits scaling" in out
    assert "peak N* = 21.8" in out
    assert "PostgreSQL limited throughput" in out and SCRIPT in out


def test_report_json_is_the_scale_result(kept: str) -> None:
    done = pareto("report", "--run", kept, "--format", "json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == SCALE


def test_report_html_is_the_scalability_section_alone(kept: str, tmp_path: Path) -> None:
    path = tmp_path / "scale.html"
    done = pareto("report", "--html", str(path), "--run", kept)
    assert done.exit_code == 0, done.output
    assert done.output.strip() == str(path.resolve())
    page = path.read_text()
    assert "<title>Scalability: run scale</title>" in page
    assert '<section id="scalability">' in page
    for section in ("summary", "endpoints", "queries", "latency", "breakdown", "findings"):
        assert f'id="{section}"' not in page, section
    assert 'href="#scalability"' in page and 'href="#summary"' not in page
    assert 'id="pareto-report"' not in page and 'id="pareto-diagnosis"' not in page
    charts = json.loads(re.findall(r'id="pareto-charts" type="application/json">(.*?)<', page)[0])
    assert set(charts) == {"scale"} and len(charts["scale"]["measured"]) == 3
    scale = json.loads(re.findall(r'id="pareto-scale" type="application/json">(.*?)<', page)[0])
    assert scale == SCALE
    # The table of points, the fit's numbers and both verdicts.
    assert "<td>4</td><td>340.7 req/s</td><td>180.8 ms</td><td>390.0 req/s</td>" in page
    assert "one worker (λ)" in page and "0.0500" in page and "21.8 workers" in page
    assert html.escape(VERDICT, quote=False) in page
    assert NECK_VERDICT in page and "93% utilized" in page
    # Only the page's own scripts: charts and scale data, Chart.js, the page's script.
    assert page.count("<script") == 4
    assert SCRIPT not in page and html.escape(SCRIPT, quote=False) in page


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from open_browser()


def test_the_browser_draws_the_scale_chart_alone(
    browser: Browser, kept: str, tmp_path: Path
) -> None:
    path = api.report_html(kept, path=tmp_path / "scale.html")
    facts = browser.inspect(path, "report-scale-run.png")
    assert facts.errors == [] and facts.requests == [] and facts.dialogs == []
    assert facts.injected == 0 and facts.scripts == 4
    assert set(facts.charts) == {"scale"} and facts.ready == "1"
    measured = facts.charts["scale"]["datasets"][0]["data"]
    assert measured == [{"x": p["workers"], "y": p["throughput_rps"]} for p in SCALE["points"]]


def test_report_html_with_a_comparison_refuses_a_scale_run(kept: str, tmp_path: Path) -> None:
    path = tmp_path / "r.html"
    for args in (["--compare", "before", kept], ["--compare", kept, "before"],
                 ["--compare", "before", "before", "--run", kept]):  # fmt: skip
        done = pareto("report", "--html", str(path), *args)
        assert done.exit_code == 1, done.output
        assert f"run '{kept}' is a pareto scale result, not a run of requests" in done.output
    assert not path.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["doctor", "--run", "scale"],
        ["doctor", "--run", "scale", "--format", "json"],
        ["compare", "scale", "before"],
        ["compare", "before", "scale", "--format", "json"],
        ["fix", "--run", "scale"],
    ],
)
def test_commands_that_read_requests_refuse_a_scale_run(kept: str, args: list[str]) -> None:
    done = pareto(*args)
    assert done.exit_code == 1, done.output
    assert "Error: run 'scale' is a pareto scale result, not a run of requests" in done.output


def test_the_api_refuses_clearly_too(kept: str) -> None:
    with pytest.raises(api.NotARunOfRequests, match="is a pareto scale result"):
        api.doctor(kept)
    with pytest.raises(api.NotARunOfRequests, match="is a pareto scale result"):
        api.compare("before", kept)
    # The run of requests is still diagnosed and compared as before.
    assert api.compare("before", "before")["total"]["before"]["requests"] == 3
