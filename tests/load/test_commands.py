"""The commands as a user runs them: ``pareto load`` against the test project's live
server, ``pareto scale`` against the demo served by gunicorn, and what they keep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from django_pareto import api
from django_pareto.cli.main import cli
from django_pareto.load.model import Target
from django_pareto.load.plan import build_plan
from django_pareto.load.scale import ScaleSettings, run_scale
from django_pareto.load.search import Objective
from django_pareto.verify.workload import parse_workload
from tests.load.conftest import DEMO, SETTINGS

WORKLOAD = """
[[requests]]
name = "three queries"
weight = 3
path = "/k/3/"

[[requests]]
name = "missing"
weight = 1
path = "/no-such-page/"
expect = [404]
"""


def pareto(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), obj={"django_ready": True})


@pytest.fixture
def workload(tmp_path: Path) -> Path:
    path = tmp_path / "workload.toml"
    path.write_text(WORKLOAD)
    return path


@pytest.mark.usefixtures("transactional_db", "store_path")
def test_load_reports_counts_statuses_and_server_timing(
    site_server: Target,
    workload: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "load.json"
    done = pareto("load", site_server.url, "--workload", str(workload), "--requests", "40",
                  "--users", "2", "--processes", "1", "--warmup", "0", "--no-progress",
                  "--json", str(out))  # fmt: skip
    assert done.exit_code == 0, done.output
    result = json.loads(out.read_text())
    assert result["sent"] == result["completed"] == result["ok"] == 40
    assert result["status_counts"]["200"] + result["status_counts"]["404"] == 40
    assert set(result["endpoints"]) == {"three queries", "missing"}
    timed = result["endpoints"]["three queries"]["server_timing"]
    # Server-Timing came from the site's capture middleware: 3 queries per request.
    assert timed["queries"] == 3 and timed["db_ms"] <= timed["db_ms"] + timed["app_ms"]
    assert "throughput" in done.output and "corrected" in done.output


@pytest.mark.usefixtures("transactional_db", "store_path")
def test_load_exports_a_locustfile_instead_of_running(
    site_server: Target,
    workload: Path,
    tmp_path: Path,
) -> None:
    path = tmp_path / "locustfile.py"
    done = pareto("load", site_server.url, "--workload", str(workload),
                  "--export-locust", str(path))  # fmt: skip
    assert done.exit_code == 0, done.output
    compile(path.read_text(), str(path), "exec")
    assert "FastHttpUser" in path.read_text() and "/k/3/" in path.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["http://example.com/"], "not a loopback address"),
        (["http://127.0.0.1:9/", "--from-run", "nope"], "no run named 'nope'"),
        (["http://127.0.0.1:9/"], "give exactly one of --workload FILE and --from-run NAME"),
    ],
)
@pytest.mark.usefixtures("db", "store_path")
def test_load_refuses_clearly(args: list[str], message: str, workload: Path) -> None:
    if args[0] == "http://example.com/":
        args = [*args, "--workload", str(workload)]
    done = pareto("load", *args)
    assert done.exit_code != 0 and message in done.output, done.output


@pytest.mark.usefixtures("db", "store_path")
def test_scale_measures_each_worker_count_and_fits_the_curve(
    demo_env: dict[str, str],
    settings: Any,
) -> None:
    # The plan is built here, in the test project's settings, for the demo's server.
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    parsed = parse_workload({"requests": [{"path": "/"}, {"path": "/tags/"}]})
    measuring = ScaleSettings(workers=(1, 2), objective=Objective(2000.0), probe_seconds=1.0,
                             warmup_seconds=0.2, steps=1)  # fmt: skip
    probes: list[str] = []
    result = run_scale(
        DEMO,
        lambda target: build_plan(parsed, target, 50, seed=1),
        measuring,
        settings_module=SETTINGS,
        env=demo_env,
        on_probe=probes.append,
    )
    assert [p.workers for p in result.points] == [1, 2]
    assert len(probes) == 4  # per worker count: flat out, then one open-loop probe
    for point in result.points:
        assert point.capacity.closed_loop_rps > 0
        assert [p.rate is None for p in point.capacity.probes] == [True, False]
    data = result.to_json()
    assert [p["workers"] for p in data["points"]] == [1, 2]
    assert (data["usl"] is None) == (data["usl_error"] is not None)
    if data["usl"] is not None:
        assert data["usl"]["curve"][0][0] == 1
    # Kept in the store, found again, and drawn in the HTML report.
    api.save_scale("scale", data)
    assert api.scale_result() == json.loads(json.dumps(data))
    assert [r.name for r in api.runs()] == ["scale"]


def test_the_site_served_is_the_project_of_pythonpath(tmp_path: Path) -> None:
    from django_pareto.cli.load import _site_dir

    with cli.make_context("pareto", ["--pythonpath", str(tmp_path), "serve"]) as ctx, ctx:
        assert _site_dir() == tmp_path.resolve()
    with cli.make_context("pareto", ["serve"]) as ctx, ctx:
        assert _site_dir() == Path.cwd().resolve()
