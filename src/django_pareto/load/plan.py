"""Request plans: the requests of a load test, drawn from a workload and built once.

``pareto load`` runs inside the project, like ``pareto record``: the site under test shares
this process's database, session store and ``SECRET_KEY``. That is what lets a plan carry
real sessions (minted through Django's session engine and auth, as ``Client.force_login``
does) and pass Django's real CSRF check, without logging in over HTTP.

The draws are the replayer's (``verify.replay.RequestDrawer``): the same weights, the same
parameter values in the same order for a seed, so ``pareto load`` and ``pareto record`` send
the same mix. The bytes are identical for a seed and a database when the plans share one
``Credentials`` (sessions and the CSRF secret are random, never derived from the seed:
anyone who knew the seed could otherwise compute a user's session key).
"""

from __future__ import annotations

import json
import string
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.http.request import HttpHeaders, split_domain_port, validate_host
from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH, CSRF_SESSION_KEY
from django.utils.crypto import get_random_string

from django_pareto.load.model import LoadError, PlannedRequest, Target
from django_pareto.store import Store
from django_pareto.verify.replay import DrawnRequest, RequestDrawer
from django_pareto.verify.workload import RequestSpec, Workload, WorkloadError, load_workload

__all__ = [
    "Credentials",
    "Prepared",
    "build_plan",
    "check_allowed_host",
    "csrf_header_name",
    "describe_plan",
    "draw_variants",
    "host_header",
    "plan_from_run",
    "prepare",
    "workload_from_run",
]

USER_AGENT = "django-pareto-load"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})  # what Django's CSRF checks
MAX_SESSIONS = 10_000  # distinct users a plan logs in as; each is a row in the session store
# Kept as they are when a filled path is encoded: the URL's own structure (and existing
# %XX escapes). Drawn values are encoded whole before that, so they cannot add structure.
_URL_SAFE = "/?&=:@!$'()*+,;~%"
# Headers the plan owns: the engine relies on them (one Host, keep-alive, exact lengths).
_OWNED_HEADERS = frozenset({"host", "connection", "content-length", "transfer-encoding"})


@dataclass(frozen=True)
class Prepared:
    """A drawn request in HTTP terms, before credentials: shared by the plans and the
    Locust export (which adds the cookies and the Origin when the test runs)."""

    name: str
    method: str
    path: str  # the target's base path + the filled path, percent-encoded
    headers: dict[str, str]  # the entry's headers, filled
    body: bytes | None
    content_type: str | None  # of the body, unless the entry's headers set one
    login: str | None
    expect: tuple[int, ...] | None

    @property
    def unsafe(self) -> bool:
        return self.method in UNSAFE_METHODS


class Credentials:
    """Sessions of the users a plan logs in as, and one CSRF secret.

    Sessions are real: saved in the site's session store, valid for ``SESSION_COOKIE_AGE``
    (or until the user logs out). ``revoke()`` deletes them after the test. Share one
    ``Credentials`` between plans to reuse the sessions (and get identical bytes).
    """

    def __init__(self) -> None:
        self.csrf_secret = get_random_string(CSRF_SECRET_LENGTH, CSRF_ALLOWED_CHARS)
        self._sessions: dict[str | None, str] = {}
        self._checked = False

    def session(self, username: str | None) -> str:
        """The session cookie value of ``username`` (None: an anonymous session, only
        needed when the CSRF secret lives in the session)."""
        found = self._sessions.get(username)
        if found is None:
            if len(self._sessions) >= MAX_SESSIONS:
                raise LoadError(
                    f"the plan logs in as more than {MAX_SESSIONS} different users, each a "
                    "session row; draw the login parameter from fewer users (e.g. "
                    "filter = { id__lte = 500 } on its [params] entry)"
                )
            found = self._sessions[username] = self._mint(username)
        return found

    def cookies(self, login: str | None, unsafe: bool) -> dict[str, str]:
        """The cookies a request sends: its user's session; for a write the CSRF cookie
        (or, with ``CSRF_USE_SESSIONS``, a session holding the secret)."""
        jar: dict[str, str] = {}
        in_session = bool(settings.CSRF_USE_SESSIONS)
        if login is not None or (unsafe and in_session):
            jar[settings.SESSION_COOKIE_NAME] = self.session(login)
        if unsafe and not in_session:
            jar[settings.CSRF_COOKIE_NAME] = self.csrf_secret
        return jar

    def revoke(self) -> int:
        """Delete the sessions minted so far from the session store; returns how many."""
        engine = import_module(settings.SESSION_ENGINE)
        for key in self._sessions.values():
            engine.SessionStore().delete(key)
        count = len(self._sessions)
        self._sessions.clear()
        return count

    @property
    def usernames(self) -> list[str]:
        return sorted(name for name in self._sessions if name is not None)

    def _mint(self, username: str | None) -> str:
        from django.contrib.auth import get_user_model
        from django.core.exceptions import ObjectDoesNotExist
        from django.test import Client

        if not self._checked:
            _check_shared_session_store()
            self._checked = True
        client = Client()
        if username is not None:
            manager = get_user_model()._default_manager
            try:
                user = manager.get_by_natural_key(username)
            except ObjectDoesNotExist:
                raise LoadError(f"no user {username!r} to log in as") from None
            client.force_login(user)
        if settings.CSRF_USE_SESSIONS:
            session = client.session  # the user's session, or a new anonymous one
            session[CSRF_SESSION_KEY] = self.csrf_secret
            session.save()
            # signed_cookies sessions change key on every save: the key is the data
            return str(session.session_key)
        return client.cookies[settings.SESSION_COOKIE_NAME].value


def _check_shared_session_store() -> None:
    engine = settings.SESSION_ENGINE
    if engine != "django.contrib.sessions.backends.cache":
        return  # db, cached_db, signed_cookies and file (same machine) are shared
    backend = settings.CACHES[settings.SESSION_CACHE_ALIAS]["BACKEND"]
    if backend.rsplit(".", 1)[-1] in ("LocMemCache", "DummyCache"):
        raise LoadError(
            f"sessions live in the {settings.SESSION_CACHE_ALIAS!r} cache ({backend}), which "
            "the site's processes do not share with this one: sessions minted here would not "
            "log anybody in. Use a shared cache (Redis, memcached) or the db session engine."
        )


def host_header(target: Target) -> str:
    """The Host header for ``target``: without the default port, as browsers send it
    (a proxy passing ``$host`` on would otherwise make the Origin check fail)."""
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == 80 else f"{host}:{target.port}"


def check_allowed_host(target: Target) -> None:
    """Raise LoadError when Django would reject the Host we send (400 DisallowedHost)."""
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]  # Django's own default under DEBUG
    domain, _port = split_domain_port(host_header(target))
    if not domain or not validate_host(domain, allowed):
        raise LoadError(
            f"{target.host} is not in ALLOWED_HOSTS {allowed!r}: the site would answer every "
            f"request with 400 (DisallowedHost). Add {target.host!r} to ALLOWED_HOSTS in the "
            "site's settings, or load it through a host name that is allowed."
        )


class _UrlFormatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        # A drawn value is data: "a/b & c" stays one path segment or query value.
        return quote(super().format_field(value, format_spec), safe="")


def _url_path(base_path: str, drawn: DrawnRequest) -> str:
    filled = _UrlFormatter().vformat(drawn.spec.path, (), drawn.drawn)
    return base_path + quote(filled, safe=_URL_SAFE)


def prepare(drawn: DrawnRequest, base_path: str = "") -> Prepared:
    """A drawn request as method, encoded path, headers and body (no credentials yet)."""
    spec = drawn.spec
    headers = drawn.headers
    body: bytes | None = None
    content_type = None
    if drawn.json is not None:  # any method, as the replayer sends it
        body, content_type = json.dumps(drawn.json).encode("ascii"), "application/json"
    elif spec.method not in ("GET", "HEAD"):  # the replayer ignores data on GET and HEAD
        body = urlencode(drawn.data or {}, doseq=True).encode("ascii")
        content_type = "application/x-www-form-urlencoded"
    if any(k.lower() == "content-type" for k in headers):
        content_type = None  # the entry's own wins
    return Prepared(
        name=spec.name,
        method=spec.method,
        path=_url_path(base_path, drawn),
        headers=headers,
        body=body,
        content_type=content_type,
        login=drawn.login,
        expect=spec.expect,
    )


def csrf_header_name() -> str:
    """The HTTP header Django reads the CSRF token from (CSRF_HEADER_NAME is a META key)."""
    name = HttpHeaders.parse_header_name(settings.CSRF_HEADER_NAME)
    if name is None:
        raise LoadError(
            f"CSRF_HEADER_NAME = {settings.CSRF_HEADER_NAME!r} is not an HTTP header "
            "(it should look like 'HTTP_X_CSRFTOKEN'): writes cannot carry their token"
        )
    return name


class _Builder:
    def __init__(self, target: Target, credentials: Credentials) -> None:
        check_allowed_host(target)
        self.target = target
        self.credentials = credentials
        self.host = host_header(target)
        # Django accepts a write whose Origin is exactly scheme://Host of the request.
        self.origin = f"http://{self.host}"
        self.csrf_header = csrf_header_name()

    def build(self, prepared: Prepared) -> PlannedRequest:
        headers: dict[str, tuple[str, str]] = {}  # lower-case name -> (name, value)

        def put(name: str, value: str) -> None:
            if any(c in name + value for c in "\r\n\0"):
                # a line break would end the header early: another header, or a request
                raise LoadError(f"{prepared.name}: header {name!r} contains a line break")
            headers[name.lower()] = (name, value)

        put("Host", self.host)
        put("Connection", "keep-alive")
        put("User-Agent", USER_AGENT)
        cookie = ""
        for name, value in prepared.headers.items():
            if name.lower() == "cookie":
                cookie = value
            elif name.lower() not in _OWNED_HEADERS:
                put(name, value)
        jar = self.credentials.cookies(prepared.login, prepared.unsafe)
        cookies = [cookie] if cookie else []
        cookies += [f"{name}={value}" for name, value in jar.items()]
        if cookies:
            put("Cookie", "; ".join(cookies))
        if prepared.unsafe:
            put(self.csrf_header, self.credentials.csrf_secret)
            put("Origin", self.origin)
            put("Referer", f"{self.origin}/")
        if prepared.content_type:
            put("Content-Type", prepared.content_type)
        if prepared.body is not None:
            put("Content-Length", str(len(prepared.body)))
        lines = [f"{prepared.method} {prepared.path} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in headers.values()]
        try:
            raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        except UnicodeEncodeError:
            raise LoadError(
                f"{prepared.name}: a header value is not Latin-1 text; HTTP headers cannot "
                "carry it as is (percent-encode it)"
            ) from None
        return PlannedRequest(
            name=prepared.name,
            method=prepared.method,
            path=prepared.path,
            raw=raw + (prepared.body or b""),
            expect=prepared.expect,
        )


def build_plan(
    workload: Workload,
    target: Target,
    count: int,
    seed: int | None = None,
    *,
    credentials: Credentials | None = None,
) -> list[PlannedRequest]:
    """``count`` requests drawn from ``workload`` exactly as ``pareto record`` draws them
    (``seed`` defaults to the workload's), each a complete HTTP/1.1 message for ``target``.

    Logins get real sessions and writes a CSRF cookie, the matching header and an Origin
    of the target; ``credentials`` (default: new ones) holds them.
    """
    if count < 0:
        raise LoadError(f"a plan needs a count >= 0, got {count}")
    builder = _Builder(target, credentials or Credentials())
    try:
        drawer = RequestDrawer(workload, seed)
    except WorkloadError as exc:
        raise LoadError(str(exc)) from None
    return [builder.build(prepare(drawer.next(), target.base_path)) for _ in range(count)]


def workload_from_run(store: Store, run_name: str) -> tuple[Workload, int | None]:
    """The workload file run ``run_name`` replayed, and the seed it used (None: unknown)."""
    info = store.run(run_name)
    if info is None:
        raise LoadError(f"no run named {run_name!r} in {store.description}")
    path = info.meta.get("workload_path")
    if not path:
        raise LoadError(
            f"run {run_name!r} was not recorded from a workload file (it was captured from "
            "live traffic, whose request paths and parameters are not stored): pass "
            "--workload FILE"
        )
    if not Path(path).is_file():
        raise LoadError(
            f"run {run_name!r} was recorded from {path}, which no longer exists: pass "
            "--workload FILE"
        )
    try:
        workload = load_workload(path)
    except WorkloadError as exc:
        raise LoadError(f"run {run_name!r}: {exc}") from None
    seed = info.meta.get("seed")
    return workload, seed if isinstance(seed, int) else None


def plan_from_run(
    store: Store,
    run_name: str,
    target: Target,
    count: int,
    seed: int | None = None,
    *,
    credentials: Credentials | None = None,
) -> list[PlannedRequest]:
    """The plan of ``--from-run NAME``: the workload file the run replayed, with its seed
    (unless ``seed`` is given).

    The workload is used as recorded: the mix follows its weights, not the counts the run
    happened to draw (the same thing, up to chance, for a run recorded from it).
    """
    workload, run_seed = workload_from_run(store, run_name)
    return build_plan(
        workload, target, count, run_seed if seed is None else seed, credentials=credentials
    )


def describe_plan(plan: Iterable[PlannedRequest]) -> dict[str, int]:
    """Requests per workload entry, the most frequent first."""
    return dict(Counter(request.name for request in plan).most_common())


def draw_variants(
    workload: Workload, count: int, seed: int | None = None, base_path: str = ""
) -> list[tuple[RequestSpec, list[Prepared]]]:
    """Up to ``count`` distinct prepared requests per entry, in entry order: the variants
    a Locust task picks from (one for an entry without parameters)."""
    try:
        drawer = RequestDrawer(workload, seed)
    except WorkloadError as exc:
        raise LoadError(str(exc)) from None
    variants: list[tuple[RequestSpec, list[Prepared]]] = []
    for spec in workload.requests:
        found: dict[tuple[str, str, bytes | None, str | None], Prepared] = {}
        for _ in range(count if spec.placeholders else 1):
            prepared = prepare(drawer.filled(spec, drawer.draw(spec.placeholders)), base_path)
            key = (prepared.path, repr(prepared.headers), prepared.body, prepared.login)
            found.setdefault(key, prepared)
        variants.append((spec, list(found.values())))
    return variants
