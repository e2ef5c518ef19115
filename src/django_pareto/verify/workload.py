"""Workload files (docs/workloads.md): parsed and checked before anything runs.

Every problem is reported with the file, the entry and what is wrong, e.g.
``workload.toml: requests[3] (comment): unknown parameter {slugg} in path``.
"""

from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_TOP_KEYS = {"workload", "params", "requests"}
_WORKLOAD_KEYS = {"name", "seed"}
_REQUEST_KEYS = {"name", "weight", "method", "path", "login", "data", "json", "headers", "expect"}
_PARAM_KINDS = ("from", "range", "choice")


class WorkloadError(Exception):
    """A workload file cannot be used; the message names the entry and the problem."""


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "from", "range" or "choice"
    source: str = ""  # "app_label.Model.field" for kind "from"
    filter: dict[str, Any] = field(default_factory=dict)
    low: int = 0
    high: int = 0
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class RequestSpec:
    name: str
    weight: float
    method: str
    path: str
    login: str | None = None
    data: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    expect: tuple[int, ...] | None = None
    placeholders: frozenset[str] = frozenset()

    def accepts(self, status: int) -> bool:
        return status in self.expect if self.expect is not None else status < 400


@dataclass(frozen=True)
class Workload:
    source: str
    name: str
    seed: int
    params: dict[str, Param]
    requests: tuple[RequestSpec, ...]


def load_workload(path: str | Path) -> Workload:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkloadError(f"{path}: workload file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkloadError(f"{path}: cannot read the workload file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise WorkloadError(f"{path}: not valid TOML: {exc}") from None
    return parse_workload(raw, source=path.name)


def parse_workload(raw: dict[str, Any], source: str = "workload") -> Workload:
    def fail(where: str, problem: str) -> WorkloadError:
        return WorkloadError(f"{source}: {where}: {problem}")

    _unknown_keys(raw, _TOP_KEYS, "top level", fail)
    meta = raw.get("workload", {})
    if not isinstance(meta, dict):
        raise fail("[workload]", "must be a table")
    _unknown_keys(meta, _WORKLOAD_KEYS, "[workload]", fail)
    seed = meta.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise fail("[workload]", f"seed must be an integer, got {seed!r}")

    params_raw = raw.get("params", {})
    if not isinstance(params_raw, dict):
        raise fail("[params]", "must be a table of parameters")
    params = {name: _param(name, spec, fail) for name, spec in params_raw.items()}

    requests_raw = raw.get("requests")
    if not isinstance(requests_raw, list) or not requests_raw:
        raise fail("requests", "at least one [[requests]] entry is required")
    requests = tuple(
        _request(i, entry, params, fail) for i, entry in enumerate(requests_raw, start=1)
    )
    return Workload(
        source=source,
        name=str(meta.get("name", source)),
        seed=seed,
        params=params,
        requests=requests,
    )


def _unknown_keys(table: dict[str, Any], known: set[str], where: str, fail: Any) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise fail(
            where, f"unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(known))}"
        )


def _param(name: str, spec: Any, fail: Any) -> Param:
    where = f"params.{name}"
    if not isinstance(spec, dict):
        raise fail(where, 'must be a table such as { from = "app.Model.field" }')
    kinds = [k for k in _PARAM_KINDS if k in spec]
    if len(kinds) != 1:
        raise fail(where, "needs exactly one of from, range, choice")
    kind = kinds[0]
    _unknown_keys(spec, {kind, "filter"} if kind == "from" else {kind}, where, fail)
    value = spec[kind]
    if kind == "from":
        if not isinstance(value, str) or value.count(".") != 2:
            raise fail(where, f'from must look like "app_label.Model.field", got {value!r}')
        filt = spec.get("filter", {})
        if not isinstance(filt, dict):
            raise fail(where, "filter must be a table of field lookups")
        return Param(name, kind, source=value, filter=dict(filt))
    if kind == "range":
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            or value[0] > value[1]
        ):
            raise fail(where, f"range must be [low, high] integers with low <= high, got {value!r}")
        return Param(name, kind, low=value[0], high=value[1])
    if not isinstance(value, list) or not value:
        raise fail(where, "choice must be a non-empty list")
    return Param(name, kind, choices=tuple(value))


def _placeholders(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ValueError(f"bad placeholder syntax in {template!r}: {exc}") from None


def _templates(value: Any) -> list[str]:
    """Every string inside a nested data/json/headers value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _templates(v)]
    if isinstance(value, list):
        return [s for v in value for s in _templates(v)]
    return []


def _request(index: int, entry: Any, params: dict[str, Param], fail: Any) -> RequestSpec:
    label = f"requests[{index}]"
    if not isinstance(entry, dict):
        raise fail(label, "must be a table")
    if isinstance(entry.get("name"), str):
        label += f" ({entry['name']})"
    _unknown_keys(entry, _REQUEST_KEYS, label, fail)
    path = entry.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise fail(label, f"path must be a string starting with '/', got {path!r}")
    method = str(entry.get("method", "GET")).upper()
    if method not in METHODS:
        raise fail(
            label, f"method must be one of {', '.join(METHODS)}, got {entry.get('method')!r}"
        )
    weight = entry.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
        raise fail(label, f"weight must be a number > 0, got {weight!r}")
    login = entry.get("login")
    if login is not None and not isinstance(login, str):
        raise fail(label, "login must be a username (placeholders allowed)")
    data, body = entry.get("data"), entry.get("json")
    if data is not None and not isinstance(data, dict):
        raise fail(label, "data must be a table of form fields")
    if data is not None and body is not None:
        raise fail(label, "give either data or json, not both")
    headers = entry.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise fail(label, "headers must be a table of strings")
    expect = entry.get("expect")
    if expect is not None and (
        not isinstance(expect, list)
        or not expect
        or not all(isinstance(s, int) and 100 <= s <= 599 for s in expect)
    ):
        raise fail(label, f"expect must be a list of HTTP statuses, got {expect!r}")
    used: set[str] = set()
    for where, value in [
        ("path", path),
        ("login", login),
        ("data", data),
        ("json", body),
        ("headers", headers),
    ]:
        for template in _templates(value):
            try:
                names = _placeholders(template)
            except ValueError as exc:
                raise fail(label, f"{where}: {exc}") from None
            for name in sorted(names):
                if name not in params:
                    known = ", ".join(sorted(params)) or "none defined"
                    raise fail(label, f"unknown parameter {{{name}}} in {where} (params: {known})")
            used |= names
    return RequestSpec(
        name=str(entry.get("name", f"{method} {path}")),
        weight=float(weight),
        method=method,
        path=path,
        login=login,
        data=data,
        json=body,
        headers=dict(headers),
        expect=tuple(expect) if expect is not None else None,
        placeholders=frozenset(used),
    )
