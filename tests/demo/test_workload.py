"""demo/workload.toml: valid, shaped like real traffic, and every request succeeds."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_pareto.verify.workload import RequestSpec, Workload, load_workload
from tests.demo.helpers import csrf_client, normalized

pytestmark = [pytest.mark.django_db, pytest.mark.urls("demosite.urls")]

WORKLOAD = Path(__file__).resolve().parents[2] / "demo" / "workload.toml"
ROUNDS = 3  # each request of the file is sent this many times with fresh parameters


@pytest.fixture(scope="module")
def workload() -> Workload:
    return load_workload(WORKLOAD)


def test_workload_is_shaped_like_a_real_site(workload: Workload) -> None:
    names = [spec.name for spec in workload.requests]
    assert len(names) == len(set(names))
    total = sum(spec.weight for spec in workload.requests)
    writes = sum(spec.weight for spec in workload.requests if spec.method != "GET")
    assert 0.02 <= writes / total <= 0.10  # reads dominate, a few percent writes
    assert {spec.method for spec in workload.requests} == {"GET", "POST"}
    for spec in workload.requests:
        if spec.method == "POST":
            assert spec.login, f"{spec.name}: writes need a signed-in user"


def _values(workload: Workload) -> dict[str, list[Any]]:
    values: dict[str, list[Any]] = {}
    for param in workload.params.values():
        if param.kind == "from":
            label, model_name, field = param.source.split(".")
            model = apps.get_model(label, model_name)
            rows = model._default_manager.filter(**param.filter).order_by("pk")
            values[param.name] = list(rows.values_list(field, flat=True)[:10_000])
            assert values[param.name], param.name
    return values


def _draw(
    workload: Workload, spec: RequestSpec, values: dict[str, list[Any]], rng: random.Random
) -> dict[str, Any]:
    drawn: dict[str, Any] = {}
    for name in sorted(spec.placeholders):
        param = workload.params[name]
        if param.kind == "from":
            drawn[name] = rng.choice(values[name])
        elif param.kind == "range":
            drawn[name] = rng.randint(param.low, param.high)
        else:
            drawn[name] = rng.choice(param.choices)
    return drawn


def _fill(value: Any, drawn: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return value.format_map(drawn)
    if isinstance(value, dict):
        return {key: _fill(item, drawn) for key, item in value.items()}
    return value


def test_every_request_succeeds_and_nothing_reads_page_views(
    workload: Workload, seeded: dict[str, int]
) -> None:
    values = _values(workload)
    rng = random.Random(0)
    users = get_user_model().objects
    failures: list[str] = []
    with CaptureQueriesContext(connection) as captured:
        for spec in workload.requests:
            for _ in range(ROUNDS):
                drawn = _draw(workload, spec, values, rng)
                user = users.get(username=_fill(spec.login, drawn)) if spec.login else None
                client = csrf_client(user)
                path = _fill(spec.path, drawn)
                headers = _fill(spec.headers, drawn)
                if spec.method == "POST":
                    response = client.post(path, _fill(spec.data or {}, drawn), headers=headers)
                else:
                    response = client.get(path, headers=headers)
                if not spec.accepts(response.status_code):
                    failures.append(f"{spec.name}: {spec.method} {path} -> {response.status_code}")
    assert not failures
    # P17-P22: the page-view log is written on every article view and never read.
    touching = [
        sql
        for sql in (normalized(q["sql"]) for q in captured.captured_queries)
        if "blog_pageview" in sql
    ]
    assert touching and all(sql.startswith("insert into blog_pageview") for sql in touching)
