"""The dashboard in a real browser (Debian's Chromium driven by Playwright) on a live server.

Screenshots go to $PARETO_TEST_ARTIFACTS, or tests/artifacts/. Chromium is found on the
PATH; ``playwright install`` is never needed. Django refuses ORM calls while Playwright's
event loop runs, so users, sessions and runs are all made before the browser starts.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from django_pareto import api
from tests.services import skip_or_fail

pytestmark = pytest.mark.django_db(transaction=True)

SUMMARY = (
    "requests",
    "throughput_rpm",
    "errors",
    "latency_ms.p50",
    "latency_ms.p95",
    "latency_ms.p99",
    "queries_per_request",
    "time_ms.database",
)


@contextmanager
def chromium() -> Iterator[Any]:
    executable = shutil.which("chromium")
    if executable is None:
        skip_or_fail("Chromium is not on the PATH (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("Playwright is not installed: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def artifacts() -> Path:
    default = Path(__file__).resolve().parent.parent / "artifacts"
    path = Path(os.environ.get("PARETO_TEST_ARTIFACTS") or default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def session_cookie(user: Any, url: str) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return {"name": name, "value": client.cookies[name].value, "url": url}


def metric(report: dict[str, Any], dotted: str) -> float:
    value: Any = report
    for key in dotted.split("."):
        value = value[key]
    return float(value)


def test_staff_browse_the_runs_a_run_and_a_comparison(
    live_server: Any,
    two_runs: tuple[str, str],
    user_factory: Callable[..., Any],
    artifacts: Path,
) -> None:
    cookie = session_cookie(user_factory("staff", is_staff=True), live_server.url)
    report = api.report("before")
    comparison = api.compare(*two_runs)
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies([cookie])
        page = context.new_page()
        assert page.goto(f"{live_server.url}/pareto/").status == 200
        assert page.locator("#runs tbody tr").count() == 2
        page.screenshot(path=artifacts / "dashboard-runs.png", full_page=True)

        page.get_by_role("link", name="before", exact=True).click()
        page.wait_for_url("**/pareto/runs/before/")
        for name in SUMMARY:
            shown = page.locator(f'[data-metric="{name}"]').get_attribute("data-value")
            assert float(shown or "nan") == pytest.approx(metric(report, name)), name
        assert page.locator('[data-metric="requests"]').inner_text() == str(report["requests"])
        rows = page.locator("#endpoints tbody tr")
        shown_endpoints = [rows.nth(i).get_attribute("data-endpoint") for i in range(rows.count())]
        assert shown_endpoints == [e["endpoint"] for e in report["endpoints"]]
        assert page.locator("#queries tbody tr").count() == len(report["queries"])
        assert page.locator("section.finding").count() >= 1
        page.locator("section.finding summary").first.click()  # the evidence, in the picture
        page.screenshot(path=artifacts / "dashboard-run.png", full_page=True)

        page.goto(f"{live_server.url}/pareto/")
        page.select_option('select[name="a"]', "before")
        page.select_option('select[name="b"]', "after")
        page.get_by_role("button", name="Compare").click()
        page.wait_for_url("**/pareto/compare/?a=before&b=after")
        rows = page.locator("#comparison tbody tr")
        assert rows.count() == 1 + len(comparison["endpoints"])
        page.screenshot(path=artifacts / "dashboard-compare.png", full_page=True)


def test_staff_open_the_full_html_report(
    live_server: Any,
    two_runs: tuple[str, str],
    user_factory: Callable[..., Any],
    artifacts: Path,
) -> None:
    cookie = session_cookie(user_factory("staff", is_staff=True), live_server.url)
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies([cookie])
        page = context.new_page()
        refused: list[str] = []  # what the page's own Content-Security-Policy blocked
        page.on(
            "console", lambda m: refused.append(m.text) if "Content Security" in m.text else None
        )
        page.goto(f"{live_server.url}/pareto/runs/before/")
        page.get_by_role("link", name="Full HTML report").click()
        page.wait_for_url("**/pareto/runs/before/report.html")
        page.wait_for_load_state("networkidle")
        assert "before" in page.title()
        page.screenshot(path=artifacts / "dashboard-report.png", full_page=True)
        assert refused == []


def test_the_dashboard_refuses_users_who_are_not_staff(
    live_server: Any,
    store_path: Path,
    user_factory: Callable[..., Any],
    artifacts: Path,
) -> None:
    cookie = session_cookie(user_factory("visitor"), live_server.url)
    with chromium() as browser:
        context = browser.new_context()
        context.add_cookies([cookie])
        page = context.new_page()
        for path in ("/pareto/", "/pareto/runs/before/", "/pareto/compare/?a=x&b=y"):
            assert page.goto(live_server.url + path).status == 403, path
        page.screenshot(path=artifacts / "dashboard-forbidden.png", full_page=True)

        anonymous = browser.new_context().new_page()
        anonymous.goto(f"{live_server.url}/pareto/runs/before/")
        login = f"{live_server.url}{settings.LOGIN_URL}?next=/pareto/runs/before/"
        assert anonymous.url == login
