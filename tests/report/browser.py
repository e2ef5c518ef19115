"""A real Chromium (Debian's, driven by Playwright) that opens report files offline.

Playwright's sync API keeps an asyncio loop running on the thread that uses it, and Django
then refuses database access on that thread (SynchronousOnlyOperation). So the browser
lives on a thread of its own, and the tests get back plain data about each page.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tests.services import skip_or_fail

T = TypeVar("T")

ARTIFACTS = Path(
    os.environ.get("PARETO_TEST_ARTIFACTS") or Path(__file__).resolve().parents[1] / "artifacts"
)
SCREENSHOTS: list[Path] = []  # taken in this session, listed at its end (conftest.py)

# What the page drew, read back from Chart.js and the DOM.
INSPECT = """() => {
  const charts = {};
  for (const canvas of document.querySelectorAll("canvas[data-chart]")) {
    const chart = Chart.getChart(canvas);
    charts[canvas.dataset.chart] = chart === undefined ? null : {
      id: canvas.id,
      bars: canvas.dataset.bars === undefined ? null : Number(canvas.dataset.bars),
      datasets: chart.data.datasets.map(d => ({label: d.label, data: d.data})),
    };
  }
  const metrics = {};
  for (const el of document.querySelectorAll("[data-metric]")) {
    metrics[el.dataset.metric] = {text: el.textContent, value: Number(el.dataset.value)};
  }
  return {
    charts: charts,
    metrics: metrics,
    ready: document.body.dataset.chartsReady || null,
    injected: document.querySelectorAll("img[src=x], img").length,
    scripts: document.scripts.length,
  };
}"""


@dataclass
class PageFacts:
    charts: dict[str, Any]
    metrics: dict[str, dict[str, Any]]
    ready: str | None
    injected: int  # <img> elements: the report has none of its own
    scripts: int
    errors: list[str] = field(default_factory=list)  # page errors and console errors
    requests: list[str] = field(default_factory=list)  # anything but file: it tried to load
    dialogs: list[str] = field(default_factory=list)  # alert() and friends
    screenshot: Path | None = None


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def open_browser() -> Iterator[Browser]:
    """A started Browser for a module's tests, or the skip (a failure in CI) saying why
    there is none; closed when the generator ends."""
    executable = chromium_path()
    if executable is None:
        skip_or_fail("Chromium is not installed (Debian: apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        skip_or_fail("Playwright is not installed (pip install -e '.[dev]')")
    assert executable is not None
    started = Browser(executable)
    yield started
    started.close()


class Browser:
    def __init__(self, executable: str) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chromium")
        self._call(self._start, executable)

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return self._thread.submit(fn, *args).result(timeout=60)

    def _start(self, executable: str) -> None:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox"]
        )

    def close(self) -> None:
        def stop() -> None:
            self._browser.close()
            self._playwright.stop()

        self._call(stop)
        self._thread.shutdown()

    def inspect(self, html: Path, screenshot: str) -> PageFacts:
        """Open ``html`` with the network off, read what it drew, save a full-page screenshot."""
        return self._call(self._inspect, html, screenshot)

    def _inspect(self, html: Path, screenshot: str) -> PageFacts:
        context = self._browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        requests: list[str] = []
        dialogs: list[str] = []
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None,
        )

        def dialog(d: Any) -> None:
            dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", dialog)

        def route(r: Any) -> None:
            if r.request.url.startswith("file:"):
                r.continue_()
            else:
                requests.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        try:
            page.goto(html.resolve().as_uri())
            page.wait_for_selector("body[data-charts-ready]", timeout=10_000)
            facts = PageFacts(**page.evaluate(INSPECT))
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            facts.screenshot = ARTIFACTS / screenshot
            page.screenshot(path=str(facts.screenshot), full_page=True)
            SCREENSHOTS.append(facts.screenshot)
        finally:
            context.close()
        facts.errors, facts.requests, facts.dialogs = errors, requests, dialogs
        return facts
