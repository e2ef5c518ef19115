"""The exported locustfile: valid Python, secrets flagged, and Locust really runs it against
the test project (its writes passing Django's real CSRF check)."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session

from django_pareto.load.locust_export import export_locustfile, integer_weights
from django_pareto.load.model import LoadError, Target
from django_pareto.verify.workload import parse_workload
from tests.load.test_plan import TITLES, WORKLOAD
from tests.testapp.models import Author, Book

pytestmark = pytest.mark.urls("tests.load.test_plan")  # the test app plus /whoami/

LOCAL = Target("localhost", 8000)


@pytest.fixture
def data(store_path: Path) -> None:
    User.objects.create_user("alice")
    User.objects.create_user("bob")
    author = Author.objects.create(name="a")
    Book.objects.bulk_create(Book(author=author, title=title) for title in TITLES)


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ([30, 2], [30, 2]),  # whole numbers stay as written
        ([0.5, 1.5], [1, 3]),  # scaled to whole, then reduced
        ([0.25, 1], [1, 4]),
        ([1 / 3, 1], [100, 300]),  # no power of ten fits: the smallest becomes 100
    ],
)
def test_integer_weights(weights: list[float], expected: list[int]) -> None:
    assert integer_weights(weights) == expected


def literal(tree: ast.Module, name: str) -> Any:
    for node in tree.body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == [name]:  # type: ignore[attr-defined]
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not assigned in the locustfile")


@pytest.mark.django_db
def test_the_file_is_python_with_the_drawn_requests(data: None, tmp_path: Path) -> None:
    path = export_locustfile(
        parse_workload(WORKLOAD), tmp_path / "locustfile.py", LOCAL, count=50, seed=1
    )
    source = path.read_text()
    compile(source, str(path), "exec")
    tree = ast.parse(source)
    assert ast.get_docstring(tree).startswith("Locust load test of the workload 'plans'")  # type: ignore[union-attr]
    assert "SECRET: it holds live session cookies of 2 user(s) (alice, bob)" in source
    sessions = literal(tree, "SESSIONS")
    assert set(sessions) == {"alice", "bob"}
    keys = {cookie.removeprefix("sessionid=") for cookie in sessions.values()}
    assert keys <= set(Session.objects.values_list("session_key", flat=True))
    assert literal(tree, "CSRF_COOKIE") == f"csrftoken={literal(tree, 'CSRF_TOKEN')}"
    requests = literal(tree, "REQUESTS")
    assert list(requests) == ["title", "whoami", "create"]
    assert {v[0] for v in requests["title"]} == {
        "/books/titled/plain/",
        "/books/titled/two%20words/",
        "/books/titled/%C3%87a%20%26%20%C3%A7a%3F/",
    }
    assert {v[1] for v in requests["whoami"]} == {"alice", "bob"}
    assert len(requests["create"]) > 10 and all(  # distinct drawn bodies, alice's session
        v[1] == "alice" and v[3].startswith("title=new+") for v in requests["create"]
    )
    assert "    @task(6)\n    def task_title(self) -> None:" in source
    assert 'self.send("create", "POST", (201,), "application/x-www-form-urlencoded")' in source
    assert 'host = "http://localhost:8000"' in source


@pytest.mark.django_db
def test_names_that_need_escaping_still_compile(data: None, tmp_path: Path) -> None:
    workload = parse_workload(
        {
            "workload": {"name": 'say """hi""" \\ there'},
            "requests": [
                {"name": 'what\'s "this"', "path": "/whoami/"},
                {"name": 'what\'s "this"', "path": "/k/1/", "weight": 0.5},
                {"name": "123 ünïcode", "path": "/k/2/", "headers": {"Cookie": "a=b"}},
            ],
        }
    )
    path = export_locustfile(workload, tmp_path / "l.py", Target("localhost", 80, "/app"))
    source = path.read_text()
    compile(source, str(path), "exec")
    assert "It holds no user sessions" in source
    assert 'host = "http://localhost/app"' in source
    assert "def task_what_s_this_(self)" not in source  # identifiers are cleaned up
    assert "def task_what_s_this(self)" in source and "def task_what_s_this_2(self)" in source
    assert "def task_123_n_code(self)" in source
    assert "@task(2)" in source and "@task(1)" in source  # 1, 0.5, 1 -> 2, 1, 2
    requests = literal(ast.parse(source), "REQUESTS")
    assert list(requests) == ['what\'s "this"', 'what\'s "this" #2', "123 ünïcode"]
    assert requests["123 ünïcode"] == [("/k/2/", None, {"Cookie": "a=b"}, None)]


@pytest.mark.django_db
def test_a_host_django_refuses_is_an_error(data: None, tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="not in ALLOWED_HOSTS"):
        export_locustfile(parse_workload(WORKLOAD), tmp_path / "l.py", Target("10.1.2.3", 80))


@pytest.mark.skipif(
    importlib.util.find_spec("locust") is None,
    reason="Locust is not installed (pip install 'django-pareto[bench]')",
)
def test_locust_runs_the_file_against_the_site(
    request: pytest.FixtureRequest, transactional_db: None, data: None, tmp_path: Path
) -> None:
    site: Target = request.getfixturevalue("site_server")
    path = export_locustfile(parse_workload(WORKLOAD), tmp_path / "locustfile.py", site)
    before = Book.objects.count()
    # Locust patches the standard library with gevent when imported: never in this process.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(path),
            "--headless",
            "-u",
            "2",
            "-r",
            "2",
            "-t",
            "3s",
            "--host",
            f"http://{site.host}:{site.port}",
            "--only-summary",
            "--json-file",
            str(tmp_path / "stats"),  # the final totals (its CSV lags behind by a second)
        ],
        cwd=tmp_path,  # no locust.conf or pyproject.toml of ours is read
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    stats = json.loads((tmp_path / "stats.json").read_text())
    rows = {row["name"]: row for row in stats}
    for name in ("title", "whoami", "create"):
        assert rows[name]["num_requests"] > 0, rows
        assert rows[name]["num_failures"] == 0, rows
    created = Book.objects.count() - before
    # Every write counted got through CSRF; a user's last one may still have been in
    # flight (written, not counted) when Locust stopped: at most one per user.
    assert rows["create"]["num_requests"] <= created <= rows["create"]["num_requests"] + 2
    whoami = rows["whoami"]  # "alice" or "bob", never "anonymous": the sessions are real
    assert whoami["total_content_length"] <= len("alice") * whoami["num_requests"]
