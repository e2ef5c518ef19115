"""The Server-Timing header of the capture middleware, on real requests and a real database."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.test import AsyncClient, Client
from django.urls import include, path

from django_pareto.capture import health
from django_pareto.store import Store
from tests.testapp.models import Author, Book

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.test_server_timing")]


def app_timing(request: HttpRequest) -> HttpResponse:
    Author.objects.count()
    response = HttpResponse("ok")
    response["Server-Timing"] = 'cache;desc="hit"'
    return response


def streamed(request: HttpRequest) -> StreamingHttpResponse:
    Author.objects.count()
    Book.objects.count()
    return StreamingHttpResponse(iter([b"a", b"b"]))


class BrittleResponse(HttpResponse):
    """A response that refuses a Server-Timing header, as a broken subclass might."""

    def __setitem__(self, header: str, value: str | bytes | int) -> None:
        if header.lower() == "server-timing":
            raise RuntimeError("this response takes no Server-Timing")
        super().__setitem__(header, value)


def brittle(request: HttpRequest) -> HttpResponse:
    Author.objects.count()
    return BrittleResponse("still fine")


urlpatterns = [
    path("", include("tests.testapp.urls")),
    path("st/app-timing/", app_timing),
    path("st/streamed/", streamed),
    path("st/brittle/", brittle),
]

METRIC = re.compile(r'^(\w+)((?:;\w+=(?:"[^"]*"|[^;,"\s]+))*)$')


def parse(header: str) -> dict[str, dict[str, str]]:
    """Server-Timing as the spec writes it: metrics split by ", ", params by ";"."""
    metrics: dict[str, dict[str, str]] = {}
    for entry in header.split(", "):
        match = METRIC.match(entry)
        assert match, f"not a Server-Timing metric: {entry!r}"
        params = dict(p.split("=", 1) for p in match.group(2).split(";")[1:])
        metrics[match.group(1)] = {k: v.strip('"') for k, v in params.items()}
    return metrics


@pytest.fixture(autouse=True)
def store(store_path: Path) -> Iterator[None]:
    yield


@pytest.mark.parametrize("k", [0, 3, 12])
def test_the_header_holds_db_total_and_the_query_count(client: Client, k: int) -> None:
    response = client.get(f"/k/{k}/")
    assert response.status_code == 200
    metrics = parse(response["Server-Timing"])
    assert list(metrics) == ["db", "total", "queries"]
    db, total = float(metrics["db"]["dur"]), float(metrics["total"]["dur"])
    assert 0 <= db <= total
    assert (metrics["db"]["desc"], metrics["total"]["desc"]) == ("database", "django")
    assert metrics["queries"] == {"desc": str(k)}
    assert re.fullmatch(r"\d+\.\d\d", metrics["db"]["dur"])  # milliseconds, 2 decimals


def test_the_header_matches_what_is_recorded(client: Client, recorded: Callable[[], Store]) -> None:
    metrics = parse(client.get("/k/5/")["Server-Timing"])
    (row,) = recorded().request_rows("test")
    assert metrics["queries"]["desc"] == str(row.query_count) == "5"
    assert float(metrics["db"]["dur"]) == pytest.approx(row.db_ms, abs=0.01)
    assert float(metrics["total"]["dur"]) <= row.duration_ms + 0.01


def test_off_with_the_setting(client: Client, settings: object, store_path: Path) -> None:
    settings.PARETO = {"STORE": str(store_path), "RUN": "test", "SERVER_TIMING": False}  # type: ignore[attr-defined]
    response = client.get("/k/1/")
    assert response.status_code == 200
    assert "Server-Timing" not in response


def test_an_ignored_path_gets_no_header(client: Client) -> None:
    assert "Server-Timing" not in client.get("/static/x.css")


def test_appended_to_the_applications_own_header(client: Client) -> None:
    header = client.get("/st/app-timing/")["Server-Timing"]
    assert header.startswith('cache;desc="hit", db;dur=')
    assert parse(header)["queries"] == {"desc": "1"}


def test_a_streaming_response_gets_it_before_its_body(client: Client) -> None:
    response = client.get("/st/streamed/")
    assert response.streaming
    assert parse(response["Server-Timing"])["queries"] == {"desc": "2"}
    assert b"".join(response.streaming_content) == b"ab"  # type: ignore[attr-defined]


def test_async_views_get_it_too() -> None:
    response = async_to_sync(AsyncClient().get)("/async/")
    assert response.status_code == 200
    assert parse(response["Server-Timing"])["queries"] == {"desc": "1"}


def test_a_failure_building_the_header_is_a_fault_not_an_error(
    client: Client, recorded: Callable[[], Store]
) -> None:
    health.reset()
    response = client.get("/st/brittle/")
    assert (response.status_code, response.content) == (200, b"still fine")
    assert "Server-Timing" not in response
    assert health.snapshot()["faults"] == {"capture": 1}
    (row,) = recorded().request_rows("test")  # the request is still recorded
    assert (row.endpoint, row.query_count) == ("GET /st/brittle/", 1)


def test_the_load_generator_reads_what_the_middleware_writes(client: Client) -> None:
    reader = pytest.importorskip("django_pareto.load.server_timing")
    header = client.get("/k/4/")["Server-Timing"]
    numbers = reader.parse_server_timing(header.encode("latin-1"))
    metrics = parse(header)
    assert numbers == {
        b"db": float(metrics["db"]["dur"]),
        b"total": float(metrics["total"]["dur"]),
        b"queries": 4.0,
    }
