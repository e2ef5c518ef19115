"""Replaying a workload in-process through the real request handler, and the CLI over it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from django_pareto import api
from django_pareto.cli.main import cli
from django_pareto.store import Store, StoreError
from django_pareto.verify.workload import WorkloadError
from tests.testapp.models import Author, Book

pytestmark = pytest.mark.django_db

WORKLOAD = """
[workload]
seed = 7

[params.title]
from = "testapp.Book.title"

[params.author]
from = "testapp.Author.id"

[params.n]
range = [1, 1000]

[[requests]]
name = "title"
weight = 5
path = "/books/titled/{title}/"

[[requests]]
name = "by author"
weight = 3
path = "/books/by-author/{author}/"

[[requests]]
name = "create"
weight = 1
method = "POST"
path = "/books/new/"
login = "alice"
data = { title = "new {n}" }
expect = [201]
"""


@pytest.fixture
def workload(tmp_path: Path, store_path: Path) -> Path:
    User.objects.create_user("alice", password="x")
    authors = Author.objects.bulk_create(Author(name=f"a{i}") for i in range(3))
    Book.objects.bulk_create(Book(author=authors[i % 3], title=f"book {i}") for i in range(12))
    path = tmp_path / "workload.toml"
    path.write_text(WORKLOAD)
    return path


def endpoints(store: Store, run: str) -> list[str]:
    return [r.endpoint for r in store.request_rows(run)]


def test_record_replays_the_mix_and_records_a_run(
    workload: Path, recorded: Callable[[], Store]
) -> None:
    result = api.record(workload, requests=60, run="r1")
    assert result.requests == 60
    assert not result.unexpected, result.examples  # the POSTs passed the real CSRF check
    store = recorded()
    seen = endpoints(store, "r1")
    assert len(seen) == 60
    assert set(seen) == {
        "GET /books/titled/<str:title>/",
        "GET /books/by-author/<int:author_id>/",
        "POST /books/new/",
    }
    assert store.run("r1").meta["seed"] == 7  # type: ignore[union-attr]
    assert Book.objects.filter(title__startswith="new ").count() == seen.count("POST /books/new/")


def test_the_same_seed_replays_the_same_requests(
    workload: Path, recorded: Callable[[], Store]
) -> None:
    api.record(workload, requests=30, run="a")
    Book.objects.filter(title__startswith="new ").delete()  # the same data again
    api.record(workload, requests=30, run="b")
    api.record(workload, requests=30, run="c", seed=8)
    store = recorded()
    assert endpoints(store, "a") == endpoints(store, "b")
    assert endpoints(store, "a") != endpoints(store, "c")


def test_csrf_is_really_enforced_on_the_write_endpoint(workload: Path) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.get(username="alice"))
    assert client.post("/books/new/", {"title": "x"}).status_code == 403


def test_an_existing_run_is_kept_unless_replaced(
    workload: Path, recorded: Callable[[], Store]
) -> None:
    api.record(workload, requests=5, run="r")
    with pytest.raises(StoreError, match="already exists; pass --replace or --append"):
        api.record(workload, requests=5, run="r")
    api.record(workload, requests=5, run="r", append=True)
    assert len(recorded().request_rows("r")) == 10
    api.record(workload, requests=3, run="r", replace=True)
    assert len(recorded().request_rows("r")) == 3


def test_a_parameter_without_rows_is_a_clear_error(workload: Path) -> None:
    Book.objects.all().delete()
    with pytest.raises(WorkloadError, match=r"params.title: testapp.Book.title has no rows"):
        api.record(workload, requests=5, run="x")


def test_unexpected_statuses_are_reported(tmp_path: Path, store_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text("[[requests]]\nname='missing'\npath='/nowhere/'\n")
    result = api.record(path, requests=4, run="x")
    assert result.unexpected == {"missing": 4}
    assert result.examples["missing"] == "GET /nowhere/ -> 404"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), obj={"django_ready": True})
    return result.exit_code, result.output


def test_cli_record_report_and_runs(workload: Path, recorded: Callable[[], Store]) -> None:
    code, out = invoke(
        "record", "--workload", str(workload), "--requests", "20", "--run", "cli", "--no-progress"
    )
    assert code == 0, out
    assert "Recorded 20 requests" in out
    code, out = invoke("report", "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert data["run"] == "cli" and data["requests"] == 20
    assert {"endpoints", "queries", "latency_ms", "bottleneck", "throughput_rpm"} <= set(data)
    code, out = invoke("report", "--run", "cli")
    assert code == 0 and "Endpoints by total time" in out and "Bottleneck" in out
    code, out = invoke("runs", "list")
    assert code == 0 and "cli" in out
    code, out = invoke("runs", "show", "cli")
    assert json.loads(out)["requests"] == 20
    code, out = invoke("runs", "delete", "cli", "--yes")
    assert code == 0 and "Deleted run 'cli'" in out
    code, out = invoke("report", "--run", "cli")
    assert code == 1 and "no run named 'cli'" in out


def test_cli_errors_are_clear(tmp_path: Path, store_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[requests]]\npath = 'x'\n")
    code, out = invoke("record", "--workload", str(bad), "--run", "x")
    assert code == 1
    assert "Error: bad.toml: requests[1]: path must be a string starting with '/'" in out
    code, out = invoke("report")
    assert code == 1 and "holds no runs yet" in out


def test_management_command(
    workload: Path, recorded: Callable[[], Store], capsys: pytest.CaptureFixture[str]
) -> None:
    call_command(
        "pareto",
        "record",
        "--workload",
        str(workload),
        "--requests",
        "5",
        "--run",
        "mc",
        "--no-progress",
    )
    call_command("pareto", "report", "--run", "mc", "--format", "json")
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{") :])["requests"] == 5


def test_console_script_finds_the_project_next_to_manage_py(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    (tmp_path / "manage.py").write_text(
        'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")\n'
    )
    env = {
        "PYTHONPATH": f"{root}{':'}{root / 'demo'}",
        "PATH": "/usr/bin:/bin",
        "PARETO_STORE": str(tmp_path / "store.sqlite3"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "django_pareto", "runs", "list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "store: SQLite store" in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "django_pareto", "runs", "list"],
        cwd=root / "src",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "Which Django project?" in done.stderr
