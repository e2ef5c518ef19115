"""Request plans: drawn like the replayer, sent as raw bytes to a real server that checks
sessions and CSRF for real (pytest-django's live_server serves the test project)."""

from __future__ import annotations

import http.client
import re
import socket
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from django_pareto import api
from django_pareto.load.model import LoadError, PlannedRequest, Target
from django_pareto.load.plan import (
    Credentials,
    build_plan,
    describe_plan,
    host_header,
    plan_from_run,
)
from django_pareto.store import open_store
from django_pareto.verify.replay import RequestDrawer
from django_pareto.verify.workload import parse_workload
from tests.testapp.models import Author, Book

pytestmark = pytest.mark.urls("tests.load.test_plan")


def whoami(request: HttpRequest) -> HttpResponse:
    user = request.user
    return HttpResponse(user.get_username() if user.is_authenticated else "anonymous")


urlpatterns = [path("", include("tests.testapp.urls")), path("whoami/", whoami)]

TITLES = ["plain", "two words", "Ça & ça?"]
WORKLOAD: dict[str, Any] = {
    "workload": {"name": "plans", "seed": 3},
    "params": {
        "title": {"from": "testapp.Book.title"},
        "n": {"range": [1, 1000]},
        "user": {"choice": ["alice", "bob"]},
    },
    "requests": [
        {"name": "title", "weight": 6, "path": "/books/titled/{title}/"},
        {"name": "whoami", "weight": 3, "path": "/whoami/", "login": "{user}"},
        {
            "name": "create",
            "weight": 1,
            "method": "POST",
            "path": "/books/new/",
            "login": "alice",
            "data": {"title": "new {n}"},
            "expect": [201],
        },
    ],
}
LOCAL = Target("localhost", 8000)


@pytest.fixture
def data(store_path: Path) -> None:
    """Users, an author (the create view needs one) and books with awkward titles."""
    User.objects.create_user("alice")  # no password: hashing is slow, logins are forced
    User.objects.create_user("bob")
    author = Author.objects.create(name="a")
    Book.objects.bulk_create(Book(author=author, title=title) for title in TITLES)


@pytest.fixture
def server(request: pytest.FixtureRequest, transactional_db: None, data: None) -> Target:
    """The test project served over HTTP, sharing this test's database."""
    target: Target = request.getfixturevalue("site_server")
    return target


def send(target: Target, raw: bytes) -> tuple[int, bytes]:
    """One request over a raw socket: exactly the planned bytes, nothing added."""
    with socket.create_connection((target.host, target.port), timeout=10) as sock:
        sock.sendall(raw)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
        response.close()
    return response.status, body


def head_and_body(request: PlannedRequest) -> tuple[list[str], bytes]:
    head, _, body = request.raw.partition(b"\r\n\r\n")
    return head.decode("latin-1").split("\r\n"), body


def header(request: PlannedRequest, name: str) -> str | None:
    lines, _ = head_and_body(request)
    for line in lines[1:]:
        key, _, value = line.partition(": ")
        if key.lower() == name.lower():
            return value
    return None


def first(plan: list[PlannedRequest], name: str) -> PlannedRequest:
    return next(request for request in plan if request.name == name)


@pytest.mark.django_db
def test_the_same_seed_gives_the_same_bytes(data: None) -> None:
    workload = parse_workload(WORKLOAD)
    credentials = Credentials()  # sessions are random; shared, the bytes must be identical
    a = build_plan(workload, LOCAL, 200, seed=5, credentials=credentials)
    b = build_plan(workload, LOCAL, 200, seed=5, credentials=credentials)
    c = build_plan(workload, LOCAL, 200, seed=6, credentials=credentials)
    assert [r.raw for r in a] == [r.raw for r in b]
    assert [r.raw for r in a] != [r.raw for r in c]
    assert len(credentials.usernames) == 2  # one session per user, however many requests
    # Without logins or writes nothing random is left: fresh credentials, same bytes.
    reads = parse_workload({**WORKLOAD, "requests": WORKLOAD["requests"][:1]})
    assert [r.raw for r in build_plan(reads, LOCAL, 50, seed=1)] == [
        r.raw for r in build_plan(reads, LOCAL, 50, seed=1)
    ]


@pytest.mark.django_db
def test_the_plan_draws_what_the_replayer_draws(data: None) -> None:
    workload = parse_workload(WORKLOAD)
    plan = build_plan(workload, LOCAL, 300)  # the workload's own seed, as `pareto record`
    drawer = RequestDrawer(workload, None)
    replayed = [drawer.next() for _ in range(300)]
    assert [r.name for r in plan] == [d.spec.name for d in replayed]
    assert plan[0].expect is None and first(plan, "create").expect == (201,)


@pytest.mark.django_db
def test_the_mix_follows_the_weights(data: None) -> None:
    counts = describe_plan(build_plan(parse_workload(WORKLOAD), LOCAL, 2000, seed=11))
    assert list(counts) == ["title", "whoami", "create"]  # most frequent first
    assert sum(counts.values()) == 2000
    # Weights 6:3:1; binomial spread at 2,000 draws is about 22, 20 and 13.
    assert abs(counts["title"] - 1200) < 90
    assert abs(counts["whoami"] - 600) < 80
    assert abs(counts["create"] - 200) < 55


@pytest.mark.django_db
def test_messages_are_complete_http(data: None) -> None:
    workload = parse_workload(WORKLOAD)
    plan = build_plan(workload, Target("localhost", 8000, "/shop"), 400, seed=2)
    for request in plan:
        lines, body = head_and_body(request)
        assert lines[0] == f"{request.method} {request.path} HTTP/1.1"
        assert request.path.startswith("/shop/")
        assert "{" not in request.path and " " not in request.path
        assert request.path.isascii()
        assert header(request, "Host") == "localhost:8000"
        assert header(request, "Connection") == "keep-alive"
        assert header(request, "User-Agent") == "django-pareto-load"
        if request.method == "POST":
            assert header(request, "Content-Length") == str(len(body))
            assert header(request, "Content-Type") == "application/x-www-form-urlencoded"
            assert re.fullmatch(rb"title=new\+\d+", body)
        else:
            assert body == b"" and header(request, "Content-Length") is None
    paths = {r.path for r in plan if r.name == "title"}
    assert paths == {
        "/shop/books/titled/plain/",
        "/shop/books/titled/two%20words/",
        "/shop/books/titled/%C3%87a%20%26%20%C3%A7a%3F/",  # a value never adds structure
    }


@pytest.mark.django_db
def test_json_bodies_and_the_entrys_headers(data: None) -> None:
    workload = parse_workload(
        {
            "params": {"n": {"range": [1, 9]}},
            "requests": [
                {
                    "method": "PUT",
                    "path": "/api/{n}/",
                    "json": {"n": "{n}", "tags": ["t{n}"]},
                    "headers": {"Accept": "application/json", "X-Item": "item-{n}"},
                }
            ],
        }
    )
    (request,) = build_plan(workload, LOCAL, 1)
    _, body = head_and_body(request)
    n = request.path.split("/")[2]
    assert body == f'{{"n": "{n}", "tags": ["t{n}"]}}'.encode()
    assert header(request, "Content-Type") == "application/json"
    assert header(request, "Content-Length") == str(len(body))
    assert (header(request, "Accept"), header(request, "X-Item")) == (
        "application/json",
        f"item-{n}",
    )
    assert header(request, "X-CSRFToken") is not None  # PUT is a write too


@pytest.mark.django_db
def test_a_header_cannot_smuggle_a_line(data: None) -> None:
    workload = parse_workload(
        {"requests": [{"path": "/", "headers": {"X-A": "a\r\nX-Injected: 1"}}]}
    )
    with pytest.raises(LoadError, match="contains a line break"):
        build_plan(workload, LOCAL, 1)


def test_host_header_omits_the_default_port_and_brackets_ipv6() -> None:
    assert host_header(Target("example.com", 80)) == "example.com"
    assert host_header(Target("localhost", 8000)) == "localhost:8000"
    assert host_header(Target("::1", 8000)) == "[::1]:8000"


@pytest.mark.django_db
def test_a_host_django_would_refuse_is_an_error(data: None) -> None:
    with pytest.raises(
        LoadError, match=r"127\.0\.0\.1 is not in ALLOWED_HOSTS .* Add '127\.0\.0\.1'"
    ):
        build_plan(parse_workload(WORKLOAD), Target("127.0.0.1", 8000), 10)


@pytest.mark.django_db
def test_an_unknown_user_is_an_error(data: None) -> None:
    workload = parse_workload({"requests": [{"path": "/whoami/", "login": "nobody"}]})
    with pytest.raises(LoadError, match="no user 'nobody' to log in as"):
        build_plan(workload, LOCAL, 1)


def test_login_sessions_are_real(server: Target) -> None:
    credentials = Credentials()
    plan = build_plan(parse_workload(WORKLOAD), server, 60, seed=4, credentials=credentials)
    seen = set()
    for request in (r for r in plan if r.name == "whoami"):
        cookie = header(request, "Cookie")
        assert cookie is not None and cookie.startswith("sessionid=")
        status, body = send(server, request.raw)
        assert status == 200
        seen.add(body.decode())
    assert seen == {"alice", "bob"}
    assert credentials.revoke() == 2
    assert not Session.objects.exists()  # revoked: the same bytes are anonymous now
    assert send(server, first(plan, "whoami").raw) == (200, b"anonymous")


def test_paths_reach_the_view_with_their_values_intact(server: Target) -> None:
    plan = build_plan(parse_workload(WORKLOAD), server, 100, seed=4)
    titles = [r for r in plan if r.name == "title"]
    assert {send(server, r.raw) for r in titles} == {(200, b"1")}  # one book per title


def test_writes_pass_the_real_csrf_check(server: Target) -> None:
    plan = build_plan(parse_workload(WORKLOAD), server, 100, seed=4)
    create = first(plan, "create")
    before = Book.objects.count()
    assert send(server, create.raw)[0] == 201
    assert Book.objects.count() == before + 1

    # The check is real: without the CSRF cookie, or from another origin, it is refused.
    no_cookie = re.sub(rb"; csrftoken=\w+", b"", create.raw)
    assert no_cookie != create.raw
    assert send(server, no_cookie)[0] == 403
    other_origin = create.raw.replace(b"Origin: http://localhost:", b"Origin: http://evil:")
    assert send(server, other_origin)[0] == 403
    assert Book.objects.count() == before + 1


def test_writes_pass_with_the_csrf_secret_in_the_session(server: Target, settings: Any) -> None:
    settings.CSRF_USE_SESSIONS = True
    workload = parse_workload(
        {"requests": [{"method": "POST", "path": "/books/new/", "data": {"title": "anon"}}]}
    )
    (request,) = build_plan(workload, server, 1)
    assert "csrftoken" not in (header(request, "Cookie") or "")  # the anonymous session
    assert send(server, request.raw)[0] == 201
    assert Book.objects.filter(title="anon").count() == 1


@pytest.mark.django_db
def test_plan_from_a_recorded_run(data: None, tmp_path: Path) -> None:
    workload = tmp_path / "plans.toml"
    workload.write_text(
        '[workload]\nseed = 9\n[params.title]\nfrom = "testapp.Book.title"\n'
        '[[requests]]\nname = "title"\npath = "/books/titled/{title}/"\n'
        '[[requests]]\nname = "whoami"\npath = "/whoami/"\nweight = 2\n'
    )
    api.record(workload, requests=5, run="before", seed=21)
    store = open_store()
    plan = plan_from_run(store, "before", LOCAL, 100)
    expected = build_plan(parse_workload_file(workload), LOCAL, 100, seed=21)
    assert [r.raw for r in plan] == [r.raw for r in expected]  # the run's seed, not the file's
    other = plan_from_run(store, "before", LOCAL, 100, seed=9)
    assert [r.raw for r in other] != [r.raw for r in plan]

    with pytest.raises(LoadError, match=r"no run named 'nope' in SQLite store"):
        plan_from_run(store, "nope", LOCAL, 10)
    store.run_id("live", meta={})  # as the middleware creates a run of live traffic
    with pytest.raises(LoadError, match=r"captured from live traffic.*pass --workload FILE"):
        plan_from_run(store, "live", LOCAL, 10)
    workload.unlink()
    with pytest.raises(LoadError, match=r"recorded from .*plans\.toml, which no longer exists"):
        plan_from_run(store, "before", LOCAL, 10)


def parse_workload_file(path: Path) -> Any:
    from django_pareto.verify.workload import load_workload

    return load_workload(path)
