"""The dashboard on real recorded runs: access, deleting, escaping, store errors."""

from __future__ import annotations

import html
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import resolve, reverse

from django_pareto import api
from django_pareto.capture.writer import get_writer
from django_pareto.store import open_store
from django_pareto.store.records import QueryEvent, RequestRecord
from tests.dashboard.conftest import Recorder
from tests.dashboard.urls import IMG, PAYLOAD, SCRIPT

pytestmark = pytest.mark.django_db


def pages(before: str = "before", after: str = "after") -> list[str]:
    """Every page a GET can show (the HTML report has tests of its own below)."""
    return [
        reverse("django_pareto:runs"),
        reverse("django_pareto:run", args=[before]),
        reverse("django_pareto:compare") + f"?a={before}&b={after}",
        reverse("django_pareto:delete_run", args=[before]),
    ]


def run_names() -> list[str]:
    return [run.name for run in api.runs()]


# -- who may see it ----------------------------------------------------------------------------
def test_anonymous_users_are_sent_to_the_login_page(two_runs: tuple[str, str]) -> None:
    client = Client()
    for page in pages():
        response = client.get(page)
        assert response.status_code == 302, page
        location = urlsplit(response["Location"])
        assert location.path == django_settings.LOGIN_URL
        assert parse_qs(location.query)["next"] == [page]


def test_logged_in_users_who_are_not_staff_are_refused(
    two_runs: tuple[str, str], user_client: Client
) -> None:
    for page in pages():
        assert user_client.get(page).status_code == 403, page
    assert user_client.post(pages()[-1]).status_code == 403
    assert "before" in run_names()


def test_inactive_staff_are_turned_away_by_the_default_backend(
    two_runs: tuple[str, str], user_factory: Callable[..., Any]
) -> None:
    client = Client()
    client.force_login(user_factory("gone", is_staff=True, is_active=False))
    # ModelBackend does not load an inactive user: the request is anonymous.
    assert client.get(pages()[0]).status_code == 302


def test_inactive_staff_are_refused_by_a_backend_that_loads_them(
    two_runs: tuple[str, str], user_factory: Callable[..., Any], settings: Any
) -> None:
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.AllowAllUsersModelBackend"]
    client = Client()
    client.force_login(user_factory("gone", is_staff=True, is_active=False))
    for page in pages():
        assert client.get(page).status_code == 403, page


def test_staff_see_every_page(two_runs: tuple[str, str], staff_client: Client) -> None:
    for page in pages():
        response = staff_client.get(page)
        assert response.status_code == 200, page
        assert response["Content-Security-Policy"].startswith("default-src 'none'")
        assert "no-store" in response["Cache-Control"]


def test_the_runs_page_lists_runs_with_links_and_the_compare_form(
    two_runs: tuple[str, str], staff_client: Client
) -> None:
    body = staff_client.get(reverse("django_pareto:runs")).content.decode()
    for run in api.runs():
        assert f'href="{reverse("django_pareto:run", args=[run.name])}"' in body
        assert f'<td class="num" data-value="{run.requests}">' in body
    assert 'action="/pareto/compare/"' in body
    # The newest run is preselected as "after", the one before it as "before".
    assert '<option value="before" selected>' in body and '<option value="after" selected>' in body


def test_the_run_page_shows_the_report_and_the_findings(
    two_runs: tuple[str, str], staff_client: Client
) -> None:
    body = staff_client.get(reverse("django_pareto:run", args=["before"])).content.decode()
    report = api.report("before")
    assert f'data-metric="requests" data-value="{report["requests"]}"' in body
    for endpoint in report["endpoints"]:
        assert f'data-endpoint="{html.escape(endpoint["endpoint"])}"' in body
    for query in report["queries"]:
        assert f'data-fingerprint="{query["fingerprint"]}"' in body
    findings = api.doctor("before").findings
    assert findings, "the N+1 of /books/by-author/ should be found"
    for finding in findings:
        assert f'data-finding="{finding.id}"' in body
        assert html.escape(finding.title) in body
    assert "<details><summary>Evidence</summary>" in body
    assert f'href="{reverse("django_pareto:run_report", args=["before"])}"' in body


def test_the_compare_page_has_a_row_per_endpoint_and_the_total(
    two_runs: tuple[str, str], staff_client: Client
) -> None:
    response = staff_client.get(reverse("django_pareto:compare"), {"a": "before", "b": "after"})
    data = api.compare("before", "after")
    rows = response.content.decode().count("<tr data-endpoint=")
    assert rows == 1 + len(data["endpoints"])


def test_unknown_runs_are_404_and_a_compare_without_runs_is_400(
    two_runs: tuple[str, str], staff_client: Client
) -> None:
    for name in ("nope", "before/x"):
        for view in ("run", "run_report", "delete_run"):
            url = reverse(f"django_pareto:{view}", args=[name])
            assert staff_client.get(url).status_code == 404, url
        assert staff_client.post(url).status_code == 404
    compare = reverse("django_pareto:compare")
    assert staff_client.get(compare, {"a": "before", "b": "nope"}).status_code == 404
    assert staff_client.get(compare, {"a": "before"}).status_code == 400


@pytest.mark.parametrize("name", ["feature/x", "a b%2Fc", "..", ".", "100%", "é?#&=", PAYLOAD])
def test_any_run_name_round_trips_through_its_url(
    name: str, store_path: Path, staff_client: Client
) -> None:
    open_store().write(name, [_request(1, "GET /a/")])
    url = reverse("django_pareto:run", args=[name])
    # The server decodes the path once before resolving it.
    assert resolve(unquote(url)).kwargs == {"name": name}
    response = staff_client.get(url)
    assert response.status_code == 200
    assert f'<span id="run-name">{html.escape(name)}</span>' in response.content.decode()


# -- deleting ----------------------------------------------------------------------------------
def test_deleting_asks_first_then_deletes_on_post(
    two_runs: tuple[str, str], staff_client: Client
) -> None:
    url = reverse("django_pareto:delete_run", args=["before"])
    form = staff_client.get(url).content.decode()
    assert 'method="post"' in form and "csrfmiddlewaretoken" in form
    assert "before" in run_names()
    response = staff_client.post(url, follow=True)
    assert response.redirect_chain == [(reverse("django_pareto:runs"), 302)]
    assert "Run &#x27;before&#x27; was deleted." in response.content.decode()
    assert run_names() == ["after"]


def test_a_post_without_the_csrf_token_deletes_nothing(
    two_runs: tuple[str, str], user_factory: Callable[..., Any]
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_factory("staff", is_staff=True))
    url = reverse("django_pareto:delete_run", args=["before"])
    assert client.post(url).status_code == 403
    assert "before" in run_names()
    # The same client with the token of the confirmation page succeeds.
    client.get(url)
    token = client.cookies[django_settings.CSRF_COOKIE_NAME].value
    assert client.post(url, {"csrfmiddlewaretoken": token}).status_code == 302
    assert "before" not in run_names()


def test_delete_only_accepts_get_and_post(two_runs: tuple[str, str], staff_client: Client) -> None:
    url = reverse("django_pareto:delete_run", args=["before"])
    assert staff_client.put(url).status_code == 405
    assert staff_client.post(reverse("django_pareto:runs")).status_code == 405
    assert "before" in run_names()


# -- everything shown is escaped ---------------------------------------------------------------
@pytest.fixture
def markup_run(settings: Any, record_run: Recorder) -> str:
    """One run with markup in every string that reaches the store."""
    settings.ROOT_URLCONF = "tests.dashboard.urls"
    store = record_run(PAYLOAD, ["/markup/<script>alert(1)</script>/"])
    site = (f"app/{PAYLOAD}.py", 3, PAYLOAD)
    markup = f'SELECT "{PAYLOAD}"."id" FROM "{PAYLOAD}" WHERE "{PAYLOAD}"."id" = %s'
    # Six lookups of authors from one line with varying parameters: an N+1 for the
    # doctor, whose finding then names the line and the endpoint.
    author = 'SELECT "testapp_author"."id" FROM "testapp_author" WHERE "testapp_author"."id" = %s'
    queries = [QueryEvent(author, "default", 1.0, site, params_key=i) for i in range(6)]
    queries += [QueryEvent(markup, "default", 1.0, site, params_key=1)]
    store.write(PAYLOAD, [_request(7, f"GET /{PAYLOAD}/", queries, view_name=PAYLOAD)])
    store.update_meta(PAYLOAD, {"source": PAYLOAD, PAYLOAD: [PAYLOAD]})
    return PAYLOAD


def test_markup_from_the_store_is_shown_escaped_on_every_page(
    markup_run: str, staff_client: Client
) -> None:
    for page in pages(before=markup_run, after=markup_run):
        body = staff_client.get(page).content.decode()
        # The dashboard runs no script and shows no image: any such tag came from data.
        assert "<script" not in body and "<img" not in body, page
        assert html.escape(SCRIPT) in body, page
    run_page = staff_client.get(pages(markup_run)[1]).content.decode()
    assert html.escape(IMG) in run_page
    # The run's name, meta, endpoint, call site, and the finding's location and endpoint.
    assert run_page.count(html.escape(PAYLOAD)) >= 8
    assert 'data-finding="pareto.N001"' in run_page


def test_markup_from_the_store_is_escaped_in_the_html_report(
    markup_run: str, staff_client: Client
) -> None:
    response = staff_client.get(reverse("django_pareto:run_report", args=[markup_run]))
    assert response.status_code == 200
    body = response.content.decode()
    assert SCRIPT not in body and IMG not in body


def test_the_html_report_is_served_as_html_that_is_not_sniffed(
    two_runs: tuple[str, str], staff_client: Client
) -> None:
    response = staff_client.get(reverse("django_pareto:run_report", args=["before"]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "frame-ancestors 'none'"
    body = response.content.decode()
    assert "Where the time goes: run before" in body
    assert 'id="pareto-diagnosis"' in body  # the findings are in it


# -- the dashboard does not record itself ------------------------------------------------------
def test_browsing_the_dashboard_records_nothing(
    two_runs: tuple[str, str], staff_client: Client, user_client: Client
) -> None:
    recorded_before = {run.name: run.requests for run in api.runs()}
    for page in pages():
        staff_client.get(page)
        user_client.get(page)  # refused requests are not recorded either
        Client().get(page)
    staff_client.get(reverse("django_pareto:run", args=["nope"]))
    assert get_writer().flush()
    assert {run.name: run.requests for run in api.runs()} == recorded_before
    # The same client's other requests still are.
    staff_client.get("/k/1/")
    assert get_writer().flush()
    assert sum(run.requests for run in api.runs()) == sum(recorded_before.values()) + 1


# -- a store that cannot be read -----------------------------------------------------------------
def _corrupt(path: Path) -> str:
    path.write_bytes(b"this is not a database" * 200)
    return "is corrupt"


def _unusable(path: Path) -> str:
    path.parent.joinpath("file").write_text("")
    return "cannot be used"


def _other_version(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE pareto_run (id INTEGER PRIMARY KEY)")
    conn.close()
    return "another version of django-pareto"


@pytest.mark.parametrize("break_store", [_corrupt, _unusable, _other_version])
def test_a_store_that_cannot_be_read_is_a_503_page_saying_why(
    break_store: Callable[[Path], str],
    store_path: Path,
    settings: Any,
    staff_client: Client,
) -> None:
    expected = break_store(store_path)
    if break_store is _unusable:  # a directory that cannot be made: its parent is a file
        settings.PARETO = {"STORE": str(store_path.parent / "file" / "store.sqlite3")}
    for page in pages():
        response = staff_client.get(page)
        assert response.status_code == 503, page
        message = response.context["message"]
        assert expected in message
        assert html.escape(message) in response.content.decode()
        assert "Traceback" not in response.content.decode()


# -- helpers -------------------------------------------------------------------------------------
def _request(
    i: int, endpoint: str, queries: list[QueryEvent] | None = None, view_name: str = "v"
) -> RequestRecord:
    queries = queries or []
    return RequestRecord(
        id=i,
        endpoint=endpoint,
        view_name=view_name,
        method="GET",
        status=200,
        started_at=time.time() + i,  # recent: older requests are pruned by the writer
        duration_ms=20.0,
        db_ms=sum(q.duration_ms for q in queries),
        query_count=len(queries),
        sampled=True,
        weight=1.0,
        queries=queries,
    )
