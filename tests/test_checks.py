"""System checks, tested by id."""

from __future__ import annotations

import pytest
from django.test import override_settings

from django_pareto import conf
from django_pareto.checks import MIDDLEWARE_PATH, check_settings


def ids() -> list[str]:
    conf.reset()
    return [m.id for m in check_settings() if m.id]


def test_the_test_settings_are_clean() -> None:
    assert ids() == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"MIDDLEWARE": ["django.middleware.common.CommonMiddleware"]}, ["pareto.E001"]),
        (
            {"MIDDLEWARE": ["django.middleware.common.CommonMiddleware", MIDDLEWARE_PATH]},
            ["pareto.W001"],
        ),
        ({"DEBUG": True}, ["pareto.W002"]),
        ({"PARETO": {"SAMPLE_RATE": 2}}, ["pareto.E002"]),
        ({"PARETO": {"SAMPLE_RAT": 0.5}}, ["pareto.E002"]),
        ({"PARETO": {"STORE_ALIAS": "nope"}}, ["pareto.E003"]),
        ({"PARETO": {"STORE_ALIAS": "default"}}, ["pareto.E003"]),
        ({"PARETO": {"ENABLED": False}, "MIDDLEWARE": [], "DEBUG": True}, []),
    ],
)
def test_checks(overrides: dict[str, object], expected: list[str]) -> None:
    with override_settings(**overrides):
        assert ids() == expected
    conf.reset()


def test_environment_names_the_run_and_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARETO_RUN", "deploy-42")
    monkeypatch.setenv("PARETO_STORE", "/srv/pareto.sqlite3")
    loaded = conf.load()
    assert (loaded.RUN, str(loaded.store_path)) == ("deploy-42", "/srv/pareto.sqlite3")
