"""Replay a workload in-process through Django's request handler (the full middleware stack).

Deterministic for a seed and a database: the request mix, the parameters and the users
all come from one ``random.Random(seed)``.
"""

from __future__ import annotations

import json
import random
import secrets
import string
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, FieldError, ObjectDoesNotExist
from django.http import HttpResponseBase
from django.test import Client

from django_pareto.verify.workload import Param, RequestSpec, Workload, WorkloadError

_MAX_VALUES = 10_000
_MAX_CLIENTS = 200  # logged-in sessions kept; each is one user's cookie jar
_CSRF_ALPHABET = string.ascii_letters + string.digits


@dataclass
class ReplayResult:
    requests: int = 0
    wall_s: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)  # request name -> count
    examples: dict[str, str] = field(default_factory=dict)  # request name -> one failing URL


def resolve_values(workload: Workload) -> dict[str, list[Any]]:
    """Read the existing values of every ``from`` parameter once, before the replay."""
    values: dict[str, list[Any]] = {}
    for param in workload.params.values():
        if param.kind == "from":
            values[param.name] = _values_of(workload, param)
    return values


def _values_of(workload: Workload, param: Param) -> list[Any]:
    where = f"{workload.source}: params.{param.name}"
    label, model_name, field_name = param.source.split(".")
    try:
        model = apps.get_model(label, model_name)
        model._meta.get_field(field_name)
    except LookupError as exc:
        raise WorkloadError(f"{where}: {exc}") from None
    except FieldDoesNotExist:
        raise WorkloadError(f"{where}: {label}.{model_name} has no field {field_name!r}") from None
    try:
        qs = model._default_manager.filter(**param.filter).order_by("pk")
        found = list(qs.values_list(field_name, flat=True)[:_MAX_VALUES])
    except (FieldError, ValueError, TypeError) as exc:
        raise WorkloadError(f"{where}: bad filter {param.filter!r}: {exc}") from None
    if not found:
        raise WorkloadError(f"{where}: {param.source} has no rows to draw from (seed the data?)")
    return found


@dataclass(frozen=True)
class DrawnRequest:
    """One request of the workload with its parameters drawn and filled in (unencoded)."""

    spec: RequestSpec
    drawn: dict[str, Any]
    path: str
    login: str | None
    headers: dict[str, str]
    data: dict[str, Any] | None  # form fields (None when the entry has none)
    json: Any  # the JSON body, None when the entry has none


class RequestDrawer:
    """The request mix and the parameter values of a workload, from one
    ``random.Random(seed)``: the replayer and the load plans draw the same requests in the
    same order for a seed and a database."""

    def __init__(self, workload: Workload, seed: int | None = None) -> None:
        self.workload = workload
        self.rng = random.Random(workload.seed if seed is None else seed)
        self.values = resolve_values(workload)
        self._specs = list(workload.requests)
        self._weights = [spec.weight for spec in self._specs]

    def draw(self, names: frozenset[str]) -> dict[str, Any]:
        drawn: dict[str, Any] = {}
        for name in sorted(names):  # sorted: the same draws in the same order every run
            param = self.workload.params[name]
            if param.kind == "from":
                drawn[name] = self.rng.choice(self.values[name])
            elif param.kind == "range":
                drawn[name] = self.rng.randint(param.low, param.high)
            else:
                drawn[name] = self.rng.choice(param.choices)
        return drawn

    def next(self) -> DrawnRequest:
        """The next request of the mix: an entry by weight, then its parameters."""
        spec = self.rng.choices(self._specs, weights=self._weights)[0]
        return self.filled(spec, self.draw(spec.placeholders))

    def filled(self, spec: RequestSpec, drawn: dict[str, Any]) -> DrawnRequest:
        """``spec`` with the values ``drawn`` for it filled in (no encoding)."""
        return DrawnRequest(
            spec=spec,
            drawn=drawn,
            path=spec.path.format_map(drawn),
            login=spec.login.format_map(drawn) if spec.login else None,
            headers={k: v.format_map(drawn) for k, v in spec.headers.items()},
            data=fill(spec.data, drawn) if spec.data is not None else None,
            json=fill(spec.json, drawn) if spec.json is not None else None,
        )


def _host() -> str:
    for host in settings.ALLOWED_HOSTS:
        if host not in ("*", "") and "*" not in host:
            return host.lstrip(".")
    return "testserver"


class Replayer:
    def __init__(self, workload: Workload, seed: int | None = None) -> None:
        self.workload = workload
        self.drawer = RequestDrawer(workload, seed)
        self.host = _host()
        self.secure = bool(getattr(settings, "SECURE_SSL_REDIRECT", False))
        self._clients: OrderedDict[str | None, Client] = OrderedDict()

    def client(self, username: str | None) -> Client:
        client = self._clients.get(username)
        if client is not None:
            self._clients.move_to_end(username)
            return client
        extra: dict[str, Any] = {"HTTP_HOST": self.host}
        if self.secure:
            extra["HTTP_REFERER"] = f"https://{self.host}/"  # Django checks it on HTTPS posts
        client = Client(enforce_csrf_checks=True, raise_request_exception=False, **extra)
        # Writes pass the real CSRF check the way a browser's JavaScript would: the cookie
        # and the matching header.
        token = "".join(secrets.choice(_CSRF_ALPHABET) for _ in range(32))
        client.cookies[settings.CSRF_COOKIE_NAME] = token
        client.defaults[settings.CSRF_HEADER_NAME] = token
        if username is not None:
            user_model = get_user_model()
            try:
                user = user_model._default_manager.get_by_natural_key(username)
            except ObjectDoesNotExist:
                raise WorkloadError(
                    f"{self.workload.source}: no user {username!r} to log in as"
                ) from None
            client.force_login(user)
        self._clients[username] = client
        if len(self._clients) > _MAX_CLIENTS:
            self._clients.popitem(last=False)
        return client

    def one(self, result: ReplayResult) -> None:
        request = self.drawer.next()
        spec = request.spec
        response = self._send(request)
        result.requests += 1
        result.statuses[response.status_code] += 1
        if not spec.accepts(response.status_code):
            result.unexpected[spec.name] += 1
            result.examples.setdefault(
                spec.name, f"{spec.method} {request.path} -> {response.status_code}"
            )

    def _send(self, request: DrawnRequest) -> HttpResponseBase:
        spec, path = request.spec, request.path
        client = self.client(request.login)
        kwargs: dict[str, Any] = {"headers": request.headers, "secure": self.secure}
        if request.json is not None:
            body = json.dumps(request.json)
            response = client.generic(spec.method, path, body, "application/json", **kwargs)
        elif spec.method == "GET":
            response = client.get(path, **kwargs)
        elif spec.method == "HEAD":
            response = client.head(path, **kwargs)
        elif spec.method == "POST":
            response = client.post(path, request.data or {}, **kwargs)
        else:
            from urllib.parse import urlencode

            body = urlencode(request.data or {}, doseq=True)
            response = client.generic(
                spec.method, path, body, "application/x-www-form-urlencoded", **kwargs
            )
        if getattr(response, "streaming", False):
            for _ in response.streaming_content:  # type: ignore[attr-defined]
                pass
        response.close()
        return response


def fill(value: Any, drawn: dict[str, Any]) -> Any:
    """``value`` (a template string, or a dict / list of them) with ``drawn`` filled in."""
    if isinstance(value, str):
        return value.format_map(drawn)
    if isinstance(value, dict):
        return {k: fill(v, drawn) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, drawn) for v in value]
    return value


def replay(
    workload: Workload,
    requests: int,
    *,
    seed: int | None = None,
    on_request: Callable[[], None] | None = None,
) -> ReplayResult:
    """Send ``requests`` requests drawn from ``workload``; the middleware records them."""
    replayer = Replayer(workload, seed)
    result = ReplayResult()
    started = time.perf_counter()
    for _ in range(requests):
        replayer.one(result)
        if on_request is not None:
            on_request()
    result.wall_s = time.perf_counter() - started
    return result
