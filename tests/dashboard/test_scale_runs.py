"""The dashboard on a kept ``pareto scale`` result: listed by its worker counts, shown as a
scalability result (never diagnosed), left out of comparisons, escaped throughout."""

from __future__ import annotations

import copy
import html
import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from django_pareto import api
from django_pareto.store import open_store
from tests.load.test_scale_runs import NECK_VERDICT, SCALE, SCRIPT, VERDICT
from tests.test_report import request

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Runs of requests "before" and "after", and the scale result "scale", newest."""
    store = open_store()
    store.write("before", [request(i, "GET /a/", 10.0 + i, 4.0) for i in range(3)])
    store.write("after", [request(10 + i, "GET /a/", 5.0 + i, 1.0) for i in range(2)])
    api.save_scale("scale", copy.deepcopy(SCALE))

    def no_doctor(run: str | None = None) -> Any:
        assert run != "scale", "a scale result was given to the doctor"
        return diagnose(run)

    diagnose = api.doctor
    monkeypatch.setattr(api, "doctor", no_doctor)
    return ["before", "after", "scale"]


def get(client: Client, view: str, *args: str) -> str:
    response = client.get(reverse(f"django_pareto:{view}", args=args))
    assert response.status_code == 200, response.content
    return response.content.decode()


def test_the_runs_page_lists_its_worker_counts(runs: list[str], staff_client: Client) -> None:
    body = get(staff_client, "runs")
    row = re.search(r'<tr data-run="scale">(.*?)</tr>', body, re.S)
    assert row, body
    assert '<td class="num" data-workers="1,2,4">workers 1, 2, 4</td>' in row.group(1)
    assert "<td>scale</td>" in row.group(1)
    assert 'data-value="0"' not in row.group(1)
    assert '<td class="num" data-value="3">3</td>' in body  # a run of requests, as before
    # The compare form offers the runs of requests only, the two newest preselected.
    form = body[body.index('id="compare-form"') :]
    assert '<option value="scale"' not in form
    assert '<option value="before" selected>' in form and '<option value="after" selected>' in form


def test_the_run_page_shows_the_scalability_result(runs: list[str], staff_client: Client) -> None:
    body = get(staff_client, "run", "scale")
    assert '<span id="run-name">scale</span>' in body and "source scale" in body
    rows = re.findall(r'<tr data-workers="(\d+)">(.*?)</tr>', body, re.S)
    assert [workers for workers, _ in rows] == ["1", "2", "4"]
    cells = re.findall(r">([^<]*)</td>", rows[2][1])
    assert cells == ["4", "340.7", "180.8", "390.0", "postgresql"]
    for metric, value in (("lambda", "100.0"), ("sigma", "0.05"), ("kappa", "0.002"),
                          ("r2", "0.998"), ("peak_n", "21.794494717703365")):  # fmt: skip
        assert f'data-metric="{metric}" data-value="{value}"' in body, metric
    assert html.escape(VERDICT) in body
    assert 'data-component="postgresql"' in body and "(93 % utilized)" in body
    assert html.escape(NECK_VERDICT) in body
    # Markup from the store is text on the page.
    assert SCRIPT not in body and html.escape(SCRIPT) in body
    # Neither an empty report of requests nor the doctor's findings.
    for absent in ('id="endpoints"', 'id="queries"', "Findings", "No requests recorded"):
        assert absent not in body, absent
    assert "<code>1, 2, 4</code>" in body  # how it was measured
    assert '"kind"' not in body  # the result is not dumped as JSON meta
    assert f'href="{reverse("django_pareto:run_report", args=["scale"])}"' in body


def test_the_report_link_serves_the_scalability_page(runs: list[str], staff_client: Client) -> None:
    response = staff_client.get(reverse("django_pareto:run_report", args=["scale"]))
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == "frame-ancestors 'none'"
    body = response.content.decode()
    assert "<title>Scalability: run scale</title>" in body
    assert '<section id="scalability">' in body and 'id="findings"' not in body
    assert 'id="pareto-scale"' in body and 'id="pareto-diagnosis"' not in body
    assert SCRIPT not in body and html.escape(SCRIPT, quote=False) in body
    # A run of requests still gets its report, with the newest scale result as a section.
    before = get(staff_client, "run_report", "before")
    assert 'id="findings"' in before and '<section id="scalability">' in before


def test_a_scale_result_cannot_be_compared(runs: list[str], staff_client: Client) -> None:
    url = reverse("django_pareto:compare")
    response = staff_client.get(url, {"a": "before", "b": "scale"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Pick two runs of requests" in body
    assert "run &#x27;scale&#x27; is a pareto scale result, not a run of requests" in body
    page = staff_client.get(url, {"a": "before", "b": "after"}).content.decode()
    assert '<option value="scale"' not in page and '<option value="before"' in page


def test_deleting_a_scale_result(runs: list[str], staff_client: Client) -> None:
    body = get(staff_client, "delete_run", "scale")
    assert "Its scalability result (workers 1, 2, 4) will be deleted" in body
    response = staff_client.post(reverse("django_pareto:delete_run", args=["scale"]))
    assert response.status_code == 302
    assert [run.name for run in api.runs()] == ["before", "after"]
