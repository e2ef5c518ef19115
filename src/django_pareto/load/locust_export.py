"""``pareto load --export-locust FILE``: the same workload as a standalone locustfile.

Locust runs where the site's database is out of reach (other machines, a distributed
run), so the file carries what ``pareto load`` computes in-process: the requests drawn from
the workload with their parameters filled in (up to ``count`` variants per entry, picked at
random per task call), the session cookies of the users it logs in as, and a CSRF secret.
The sessions make the file a credential; it says so at its top.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings

from django_pareto.load.model import Target
from django_pareto.load.plan import (
    UNSAFE_METHODS,
    Credentials,
    Prepared,
    check_allowed_host,
    csrf_header_name,
    draw_variants,
    host_header,
)
from django_pareto.verify.workload import RequestSpec, Workload

__all__ = ["export_locustfile", "integer_weights"]

VARIANTS = 200  # per entry: enough to spread the load over rows and users, small to read
_ANONYMOUS = ""  # the key of a session without a user (it holds the CSRF secret)


def integer_weights(weights: Sequence[float]) -> list[int]:
    """Locust's task weights are integers: the workload's as they are when whole, else
    scaled by the smallest power of ten that makes them whole (and reduced), else rounded
    with the smallest at 100 (an error below 0.5%)."""
    for scale in (1, 10, 100, 1000):
        scaled = [w * scale for w in weights]
        if all(abs(s - round(s)) < 1e-9 * max(1.0, s) for s in scaled):
            whole = [max(1, round(s)) for s in scaled]
            divisor = math.gcd(*whole) if scale > 1 else 1
            return [w // divisor for w in whole]
    low = min(weights)
    return [max(1, round(w / low * 100)) for w in weights]


def export_locustfile(
    workload: Workload,
    path: str | Path,
    target: Target,
    count: int = VARIANTS,
    seed: int | None = None,
    *,
    credentials: Credentials | None = None,
) -> Path:
    """Write a locustfile for ``workload`` against ``target`` to ``path``; returns the path.

    ``count`` variants at most per entry, drawn with ``seed`` (default: the workload's).
    """
    check_allowed_host(target)
    credentials = credentials or Credentials()
    entries = draw_variants(workload, count, seed)
    body = _render(workload, target, entries, credentials, count, seed)
    path = Path(path)
    path.write_text(body, encoding="utf-8")
    return path


def _render(
    workload: Workload,
    target: Target,
    entries: list[tuple[RequestSpec, list[Prepared]]],
    credentials: Credentials,
    count: int,
    seed: int | None,
) -> str:
    keys = _unique([spec.name for spec, _ in entries])
    requests: list[str] = []
    content_types: dict[str, str | None] = {}
    for key, (_, variants) in zip(keys, entries, strict=True):
        requests.append(f"    {_lit(key)}: [")
        requests += [_variant(p, credentials) for p in variants]
        requests.append("    ],")
        # The same for every variant of an entry: the body's kind comes from the entry.
        content_types[key] = variants[0].content_type
    # Only now: the sessions are minted while the variants are rendered.
    sessions = [f"    {_lit(name)}: {_lit(cookie)}," for name, cookie in _sessions(credentials)]
    csrf_cookie = (
        None
        if settings.CSRF_USE_SESSIONS
        else f"{settings.CSRF_COOKIE_NAME}={credentials.csrf_secret}"
    )
    weights = integer_weights([spec.weight for spec, _ in entries])
    tasks: list[str] = []
    for name, key, weight, (spec, _) in zip(
        _unique([f"task_{_identifier(k)}" for k in keys]), keys, weights, entries, strict=True
    ):
        tasks += [
            "",
            f"    @task({weight})",
            f"    def {name}(self) -> None:",
            f"        self.send({_lit(key)}, {_lit(spec.method)}, {_lit(spec.expect)}"
            + (f", {_lit(content_types[key])})" if content_types[key] else ")"),
        ]
    host = f"http://{host_header(target)}{target.base_path}"
    return _TEMPLATE.format(
        name=_doc(repr(workload.name)),
        source=_doc(workload.source),
        secret=_doc(_secret_notice(credentials)),
        seed=workload.seed if seed is None else seed,
        count=count,
        writes="{" + ", ".join(_lit(m) for m in sorted(UNSAFE_METHODS)) + "}",
        csrf_header=_lit(csrf_header_name()),
        csrf_token=_lit(credentials.csrf_secret),
        csrf_cookie=_lit(csrf_cookie),
        sessions="\n".join(sessions),
        requests="\n".join(requests),
        host=_lit(host),
        tasks="\n".join(tasks),
    )


def _variant(prepared: Prepared, credentials: Credentials) -> str:
    """``(path, session, headers, body)``: the session by its key in SESSIONS."""
    jar = credentials.cookies(prepared.login, prepared.unsafe)
    session = None
    if settings.SESSION_COOKIE_NAME in jar:
        session = prepared.login if prepared.login is not None else _ANONYMOUS
    headers = {("Cookie" if k.lower() == "cookie" else k): v for k, v in prepared.headers.items()}
    body = prepared.body.decode("ascii") if prepared.body is not None else None
    values = (prepared.path, session, headers, body)
    line = f"        {_lit(values)},"
    if len(line) <= 100:
        return line
    # One value a line, as a formatter would lay it out.
    return "\n".join(["        (", *(f"            {_lit(v)}," for v in values), "        ),"])


def _sessions(credentials: Credentials) -> list[tuple[str, str]]:
    name = settings.SESSION_COOKIE_NAME
    found = [(user, f"{name}={credentials.session(user)}") for user in credentials.usernames]
    if settings.CSRF_USE_SESSIONS:
        found.append((_ANONYMOUS, f"{name}={credentials.session(None)}"))
    return found


def _secret_notice(credentials: Credentials) -> str:
    users = credentials.usernames
    if not users:
        return "It holds no user sessions: the workload logs nobody in."
    expires = time.strftime(
        "%Y-%m-%d %H:%M UTC", time.gmtime(time.time() + settings.SESSION_COOKIE_AGE)
    )
    shown = ", ".join(users[:5]) + (f" and {len(users) - 5} more" if len(users) > 5 else "")
    return (
        f"SECRET: it holds live session cookies of {len(users)} user(s) ({shown}).\n"
        f"Anyone who has this file can act as them until the sessions expire ({expires},\n"
        "SESSION_COOKIE_AGE after the export), or until they log out or the sessions are\n"
        "deleted from the site's session store. Treat it as a password: keep it out of\n"
        "version control and delete it after the test."
    )


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return unique


def _identifier(name: str) -> str:
    cleaned = "".join(c if c.isascii() and c.isalnum() else "_" for c in name.lower())
    return "_".join(part for part in cleaned.split("_") if part) or "request"


def _doc(text: str) -> str:
    """``text`` safe inside the file's docstring (a name may hold quotes or backslashes)."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _lit(value: Any) -> str:
    """A Python literal, double-quoted like formatted code."""
    if isinstance(value, str):
        text = repr(value)
        # repr quotes with ' unless the text holds a ' (and no "): swapping is then safe
        return f'"{text[1:-1]}"' if text[0] == "'" and '"' not in value else text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_lit(k)}: {_lit(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_lit(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(_lit(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


_TEMPLATE = '''\
"""Locust load test of the workload {name} ({source}), exported by django-pareto.

{secret}

Run it (50 users, 10 more each second, for one minute):
    locust -f THIS_FILE --headless -u 50 -r 10 -t 1m
On several machines (docs/load.md, "Beyond one machine: Locust's distributed mode"):
    locust -f THIS_FILE --master                      # one machine: web UI, totals
    locust -f THIS_FILE --worker --master-host=HOST   # each load machine, once per core
`--host URL` replaces the host below; Django must allow it (ALLOWED_HOSTS).

Locust runs without the site's database, so the requests were drawn beforehand from the
workload (seed {seed}, at most {count} variants per entry) with their parameters filled in;
each task call picks one of its entry's variants at random.
"""

from __future__ import annotations

import random
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urlsplit

from locust import FastHttpUser, task

WRITES = {writes}  # the methods Django's CSRF check guards
CSRF_HEADER = {csrf_header}
CSRF_TOKEN = {csrf_token}
# None when the site keeps the CSRF secret in the session (CSRF_USE_SESSIONS)
CSRF_COOKIE = {csrf_cookie}
# The sessions of the users the workload logs in as, as "name=value" cookies.
SESSIONS = {{
{sessions}
}}
# Per workload entry: its variants, (path, session in SESSIONS or None, headers, body).
REQUESTS = {{
{requests}
}}


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, as Django compares it with a write's Origin."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{{host}}]"
    default = {{"http": 80, "https": 443}}.get(parts.scheme)
    port = f":{{parts.port}}" if parts.port and parts.port != default else ""
    return f"{{parts.scheme}}://{{host}}{{port}}"


class WorkloadUser(FastHttpUser):
    host = {host}

    def on_start(self) -> None:
        # Each request carries exactly the cookies drawn for it, as with `pareto load`:
        # the client's cookie jar accepts none from the site.
        self.client.cookiejar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        self.origin = origin_of(self.host or "")

    def send(
        self,
        name: str,
        method: str,
        expect: tuple[int, ...] | None,
        content_type: str | None = None,
    ) -> None:
        path, session, headers, body = random.choice(REQUESTS[name])
        headers = dict(headers)
        if content_type:
            headers["Content-Type"] = content_type
        cookies = [headers.pop("Cookie")] if "Cookie" in headers else []
        if session is not None:
            cookies.append(SESSIONS[session])
        if method in WRITES:
            # Django's CSRF check: the cookie, the same token in the header, our origin.
            if CSRF_COOKIE:
                cookies.append(CSRF_COOKIE)
            headers[CSRF_HEADER] = CSRF_TOKEN
            headers["Origin"] = self.origin
            headers["Referer"] = self.origin + "/"
        if cookies:
            headers["Cookie"] = "; ".join(cookies)
        with self.client.request(
            method,
            path,
            name=name,
            data=body,
            headers=headers,
            catch_response=True,
            allow_redirects=False,
        ) as response:
            if not response.status_code:
                return  # no response at all: Locust reports the connection error
            if expect is None:
                ok = response.status_code < 400
            else:
                ok = response.status_code in expect
            if ok:
                response.success()
            else:
                response.failure(f"unexpected status {{response.status_code}}")
{tasks}
'''
