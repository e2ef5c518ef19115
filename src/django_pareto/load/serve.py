"""Run a Django site the way production does, on loopback: gunicorn, optionally behind nginx.

``Server`` starts gunicorn (and a private nginx) from the reference configuration files in
``load/deploy/``, waits until the site answers, tells the resource sampler which processes
are the site's (``pids()``), and stops everything it started: each server runs in its own
process group, which is signalled as a whole, so no worker outlives it.

    with Server("demo", settings_module="demosite.settings", workers=4, nginx=True) as srv:
        run_load(srv.url, ...)
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from django_pareto.load.model import LoadError
from django_pareto.load.nginx import find_nginx, nginx_command
from django_pareto.load.processes import ProcessGroup, Watchdog, track, untrack

__all__ = [
    "GUNICORN_CONF",
    "ServeError",
    "Server",
    "SiteInfo",
    "find_nginx",
    "free_port",
    "resolve_site",
    "serve",
    "serve_forever",
]

DEPLOY_DIR = Path(__file__).resolve().parent / "deploy"
GUNICORN_CONF = DEPLOY_DIR / "gunicorn.conf.py"

WorkerClass = Literal["sync", "gthread"]

# A unix socket path longer than this does not fit in sockaddr_un (108 bytes on Linux,
# 104 on macOS); gunicorn then listens on a second loopback port instead.
_MAX_UNIX_PATH = 100
# gunicorn's grace for requests in flight on SIGTERM: short, a measurement's server has
# nothing worth waiting for, and `pareto serve` should stop at once on Ctrl-C.
_GRACEFUL_TIMEOUT_S = 3
_LOG_TAIL_LINES = 25


class ServeError(LoadError):
    """The site could not be served (or stopped answering); the message says why."""


@dataclass(frozen=True)
class SiteInfo:
    """What the site's settings say about serving it."""

    settings_module: str
    wsgi_app: str  # gunicorn's "module:attribute"
    static_url: str | None
    static_root: str | None


# --------------------------------------------------------------------------- helpers


def _loopback_host(host: str) -> str:
    """The IP literal to bind for ``host``; anything that is not loopback is refused: this
    server runs with a measurement's settings (and DEBUG perhaps), not to be exposed."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ServeError(
            f"{host!r}: give a loopback IP address (127.0.0.1, ::1) or localhost"
        ) from None
    if not address.is_loopback:
        raise ServeError(
            f"{host}: not a loopback address; `pareto serve` only listens on this machine "
            "(127.0.0.1 or ::1). For a real deployment use the files of load/deploy/."
        )
    return str(address)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now (the kernel's pick; another process could still take it
    before we bind, a race that only costs a clear start error)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _check_port_free(host: str, port: int) -> None:
    # SO_REUSEADDR as gunicorn and nginx set it: connections in TIME_WAIT do not count.
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ServeError(
                f"{_hostport(host, port)} is already in use ({exc.strerror}): stop what "
                "listens there or choose another port"
            ) from None


# The last line of a Python traceback ("ModuleNotFoundError: No module named 'x'").
_EXCEPTION_LINE = re.compile(r"^[\w.]*(Error|Exception|Exit)\b.*")


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """The log's last lines, preceded by the exceptions it reports earlier: when a worker
    fails to boot, gunicorn's own HaltServer traceback fills the end of the log and the
    cause (the application's exception) is further up."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    all_lines = text.strip().splitlines()
    tail = all_lines[-lines:]
    causes: list[str] = []
    for line in all_lines[: len(all_lines) - len(tail)]:
        if _EXCEPTION_LINE.match(line) and "HaltServer" not in line and line not in causes:
            causes.append(line)
    head = [f"error: {line}" for line in causes[:5]]
    return "\n".join([*head, *(["..."] if head else []), *tail])


def _http_probe(address: str | tuple[str, int], host_header: str, path: str, timeout: float) -> int:
    """One GET; the status code. Raises OSError when nothing answers HTTP."""
    family = socket.AF_UNIX if isinstance(address, str) else _family(address[0])
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(address)
        request = f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode("latin-1"))
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    match = re.match(rb"HTTP/\d(?:\.\d)? (\d{3})", head)
    if not match:
        raise OSError(f"not an HTTP response: {head[:80]!r}")
    return int(match.group(1))


def resolve_site(
    site_dir: str | Path, settings_module: str, env: Mapping[str, str] | None = None
) -> SiteInfo:
    """Read WSGI_APPLICATION, STATIC_URL and STATIC_ROOT from the site's settings in a
    child process: the settings module is the site's business (its imports, its environment)
    and must not be configured inside this process, which may be another Django project."""
    code = (
        "import json\n"
        "from django.conf import settings as s\n"
        "root = getattr(s, 'STATIC_ROOT', None)\n"
        "print(json.dumps({'wsgi': getattr(s, 'WSGI_APPLICATION', None),"
        " 'static_url': getattr(s, 'STATIC_URL', None),"
        " 'static_root': str(root) if root else None}))\n"
    )
    child_env = {**os.environ, **(env or {}), "DJANGO_SETTINGS_MODULE": settings_module}
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(Path(site_dir).resolve()), child_env.get("PYTHONPATH", "")) if p
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=site_dir,
            env=child_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ServeError(f"loading the settings {settings_module} took over 120 s") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        last = "\n".join(done.stderr.strip().splitlines()[-_LOG_TAIL_LINES:])
        raise ServeError(
            f"cannot load the settings {settings_module} from {site_dir} "
            f"(exit status {done.returncode}):\n{last}"
        )
    data = json.loads(lines[-1])
    wsgi = data["wsgi"]
    if not wsgi:
        raise ServeError(
            f"{settings_module} has no WSGI_APPLICATION: pass the application, "
            "e.g. wsgi_app='mysite.wsgi:application'"
        )
    module, _, attribute = str(wsgi).rpartition(".")
    return SiteInfo(
        settings_module, f"{module}:{attribute}", data["static_url"], data["static_root"]
    )


# ------------------------------------------------------------------------ server


class Server:
    """A Django site under gunicorn (``workers`` processes), optionally behind a private
    nginx, listening on loopback. A context manager; or ``start()`` / ``stop()``.

    ``site_dir``: the directory of manage.py (put on the Python path; gunicorn runs there).
    ``settings_module``: default the environment's DJANGO_SETTINGS_MODULE.
    ``wsgi_app``: default from settings.WSGI_APPLICATION ("mysite.wsgi.application").
    ``port``: the public port (nginx's with ``nginx=True``); default a free one.
    ``env``: added to this process's environment for the site (DATABASE_URL, ...).
    """

    def __init__(
        self,
        site_dir: str | Path = ".",
        *,
        settings_module: str | None = None,
        wsgi_app: str | None = None,
        workers: int = 2,
        worker_class: WorkerClass = "sync",
        threads: int = 1,
        host: str = "127.0.0.1",
        port: int | None = None,
        nginx: bool = False,
        nginx_workers: int | None = None,
        health_path: str = "/",
        env: Mapping[str, str] | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        run_dir: str | Path | None = None,
        access_log: bool = False,
    ) -> None:
        if workers < 1:
            raise ServeError("workers must be at least 1")
        if threads < 1:
            raise ServeError("threads must be at least 1")
        if worker_class not in ("sync", "gthread"):
            raise ServeError(f"worker class {worker_class!r}: choose sync or gthread")
        if not health_path.startswith("/"):
            raise ServeError(f"health path {health_path!r} must start with /")
        self.site_dir = Path(site_dir).resolve()
        if not self.site_dir.is_dir():
            raise ServeError(f"{self.site_dir}: no such directory")
        self.host = _loopback_host(host)
        self.env = dict(env or {})
        settings = settings_module or self.env.get("DJANGO_SETTINGS_MODULE")
        settings = settings or os.environ.get("DJANGO_SETTINGS_MODULE")
        if not settings:
            raise ServeError(
                "no settings module: pass --settings (e.g. mysite.settings) or set "
                "DJANGO_SETTINGS_MODULE"
            )
        self.settings_module = settings
        self.wsgi_app = wsgi_app
        self.workers = workers
        self.worker_class: WorkerClass = worker_class
        self.threads = threads
        self.port = port or 0
        self.nginx = nginx
        # nginx's "worker_processes auto" is one per core.
        self.nginx_workers = (nginx_workers or os.cpu_count() or 1) if nginx else 0
        self.health_path = health_path
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.access_log = access_log
        self._given_run_dir = Path(run_dir) if run_dir is not None else None
        self.run_dir: Path | None = None
        self.site: SiteInfo | None = None
        self._gunicorn: ProcessGroup | None = None
        self._nginx: ProcessGroup | None = None
        self._app_address: str | tuple[str, int] | None = None
        self._watchdog: Watchdog | None = None

    # -- what clients and the sampler see

    @property
    def url(self) -> str:
        """What clients hit: nginx's address with ``nginx=True``, else gunicorn's."""
        return f"http://{_hostport(self.host, self.port)}/"

    @property
    def running(self) -> bool:
        return self._gunicorn is not None and self._gunicorn.alive()

    def pids(self) -> dict[str, list[int]]:
        """Component -> pids as they are now: "app" (gunicorn master then workers) and,
        behind nginx, "nginx" (master then workers)."""
        result = {"app": self._gunicorn.tree() if self._gunicorn else []}
        if self.nginx:
            result["nginx"] = self._nginx.tree() if self._nginx else []
        return result

    def parallelism(self) -> dict[str, int]:
        """Component -> how many processes can run at once (for the sampler's saturation)."""
        result = {"app": self.workers}
        if self.nginx:
            result["nginx"] = self.nginx_workers
        return result

    @property
    def gunicorn_log(self) -> Path | None:
        return self._gunicorn.log if self._gunicorn else None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last lines of gunicorn's and nginx's logs, labelled."""
        parts = []
        if self.run_dir is not None:
            for label, path in (
                ("gunicorn", self.run_dir / "gunicorn.log"),
                ("nginx", self.run_dir / "nginx" / "stderr.log"),
                ("nginx error.log", self.run_dir / "nginx" / "error.log"),
            ):
                text = _tail(path, lines)
                if text:
                    parts.append(f"--- {label} ({path}):\n{text}")
        return "\n".join(parts) or "(no log output)"

    def check_alive(self) -> None:
        """Raise ServeError (with the logs' last lines) if gunicorn or nginx has exited."""
        for process in (self._gunicorn, self._nginx):
            if process is not None and not process.alive():
                raise ServeError(
                    f"{process.name} exited (status {process.popen.returncode}):\n"
                    + self.log_tail()
                )

    # -- life cycle

    def __enter__(self) -> Self:
        # serve() hands back a started server, to be used in a with statement too.
        return self if self._gunicorn is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Self:
        if self._gunicorn is not None:
            raise ServeError("this server is already started")
        track(self)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        if self.port:
            _check_port_free(self.host, self.port)
        else:
            self.port = free_port(self.host)
        nginx_bin = None
        if self.nginx:
            nginx_bin = find_nginx()
            if nginx_bin is None:
                raise ServeError(
                    "nginx is not installed (Debian/Ubuntu: apt-get install nginx-light); "
                    "serve without --nginx"
                )
        if self._given_run_dir is not None:
            self._given_run_dir.mkdir(parents=True, exist_ok=True)
            self.run_dir = self._given_run_dir.resolve()
        else:
            self.run_dir = Path(tempfile.mkdtemp(prefix="pareto-serve-"))
        self._watchdog = Watchdog()
        if self._given_run_dir is None:
            self._watchdog.tell(f"rm {self.run_dir}")
        self.site = resolve_site(self.site_dir, self.settings_module, self.env)
        wsgi_app = self.wsgi_app or self.site.wsgi_app

        # Behind nginx gunicorn listens on a unix socket (as in production) when its path
        # fits, else on a second loopback port; alone, on the public port.
        bind: str
        if not self.nginx:
            self._app_address = (self.host, self.port)
            bind = _hostport(self.host, self.port)
        elif len(str(self.run_dir / "gunicorn.sock")) <= _MAX_UNIX_PATH:
            sock_path = str(self.run_dir / "gunicorn.sock")
            self._app_address = sock_path
            bind = f"unix:{sock_path}"
        else:
            app_port = free_port(self.host)
            self._app_address = (self.host, app_port)
            bind = _hostport(self.host, app_port)

        env = {**os.environ, **self.env, "DJANGO_SETTINGS_MODULE": self.settings_module}
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(self.site_dir), env.get("PYTHONPATH", "")) if p
        )
        env["PYTHONUNBUFFERED"] = "1"  # tracebacks reach the log before a crash
        env.update(
            {
                "GUNICORN_BIND": bind,
                "GUNICORN_WORKERS": str(self.workers),
                "GUNICORN_WORKER_CLASS": self.worker_class,
                "GUNICORN_THREADS": str(self.threads),
                "GUNICORN_GRACEFUL_TIMEOUT": str(_GRACEFUL_TIMEOUT_S),
                "GUNICORN_CONTROL_SOCKET": str(self.run_dir / "gunicorn.ctl"),
                "GUNICORN_ACCESSLOG": "-" if self.access_log else "",
                # Behind nginx's keepalive pool, gunicorn must not close idle connections
                # first (gthread workers; sync workers close after each response anyway).
                "GUNICORN_KEEPALIVE": "75" if self.nginx else env.get("GUNICORN_KEEPALIVE", "2"),
            }
        )
        args = [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(GUNICORN_CONF),
            "--chdir",
            str(self.site_dir),
            wsgi_app,
        ]
        self._gunicorn = ProcessGroup(
            "gunicorn", args, cwd=self.site_dir, env=env, log=self.run_dir / "gunicorn.log"
        )
        self._watchdog.tell(f"+{self._gunicorn.pid}")
        self._wait_http(self._gunicorn, self._app_address, deadline)
        self._wait_workers(deadline)

        if nginx_bin is not None:
            self._start_nginx(nginx_bin, deadline)

    def _start_nginx(self, nginx_bin: str, deadline: float) -> None:
        assert self.run_dir is not None and self.site is not None
        prefix = self.run_dir / "nginx"
        prefix.mkdir(exist_ok=True)
        address = self._app_address
        assert address is not None
        upstream = f"unix:{address}" if isinstance(address, str) else _hostport(*address)
        args = nginx_command(
            nginx_bin,
            prefix,
            listen=_hostport(self.host, self.port),
            upstream=upstream,
            worker_processes=self.nginx_workers,
            static_url=self.site.static_url,
            static_root=self.site.static_root,
            access_log=self.access_log,
        )
        self._nginx = ProcessGroup(
            "nginx", args, cwd=prefix, env=dict(os.environ), log=prefix / "stderr.log"
        )
        if self._watchdog is not None:
            self._watchdog.tell(f"+{self._nginx.pid}")
        self._wait_http(self._nginx, (self.host, self.port), deadline)

    def _wait_http(
        self, process: ProcessGroup, address: str | tuple[str, int], deadline: float
    ) -> None:
        """Until ``process`` answers any HTTP status at ``address``; a clear error with the
        logs if it exits or the deadline passes."""
        host_header = self.host if isinstance(address, str) else _hostport(*address)
        last_error = "no answer yet"
        while True:
            if not process.alive():
                raise ServeError(
                    f"{process.name} exited during start (status {process.popen.returncode})"
                    f":\n{self.log_tail()}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                where = address if isinstance(address, str) else _hostport(*address)
                raise ServeError(
                    f"{process.name} did not answer GET {self.health_path} at {where} within "
                    f"{self.start_timeout:g} s (last: {last_error}):\n{self.log_tail()}"
                )
            try:
                _http_probe(address, host_header, self.health_path, min(remaining, 10.0))
                return
            except OSError as exc:
                last_error = str(exc) or type(exc).__name__
            time.sleep(0.05)

    def _wait_workers(self, deadline: float) -> None:
        """Until the master has forked all its workers, so pids() is complete."""
        assert self._gunicorn is not None
        while len(self._gunicorn.tree()) < 1 + self.workers:
            self.check_alive()
            if time.monotonic() > deadline:
                raise ServeError(
                    f"gunicorn started fewer than {self.workers} workers within "
                    f"{self.start_timeout:g} s:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop nginx (SIGQUIT: graceful) then gunicorn (SIGTERM: graceful), each group
        SIGKILLed if it outlives ``stop_timeout``. Idempotent."""
        try:
            if self._nginx is not None:
                self._nginx.stop(signal.SIGQUIT, self.stop_timeout)
            if self._gunicorn is not None:
                self._gunicorn.stop(signal.SIGTERM, self.stop_timeout)
        finally:
            untrack(self)
            if self._given_run_dir is None and self.run_dir is not None:
                shutil.rmtree(self.run_dir, ignore_errors=True)
                self.run_dir = None
            if self._watchdog is not None:
                processes = (self._nginx, self._gunicorn)
                self._watchdog.close(release=not any(p and p.alive() for p in processes))
                self._watchdog = None


def serve(site_dir: str | Path = ".", **options: Any) -> Server:
    """A started ``Server`` (same arguments); use it as a context manager to stop it."""
    return Server(site_dir, **options).start()


def serve_forever(
    site_dir: str | Path = ".",
    *,
    echo: Callable[[str], None] = print,
    poll_interval: float = 1.0,
    **options: Any,
) -> None:
    """``pareto serve``: start a ``Server`` (same options), print the URL, wait for Ctrl-C,
    stop cleanly. Raises ServeError if the site fails to start or a server process dies
    meanwhile."""
    with Server(site_dir, **options) as server:
        stack = "gunicorn behind nginx" if server.nginx else "gunicorn"
        workers = (
            f"{server.workers} {server.worker_class} worker{'s' if server.workers != 1 else ''}"
        )
        echo(
            f"Serving {server.settings_module} at {server.url} ({stack}, {workers}); "
            "Ctrl-C to stop."
        )
        try:
            while True:
                time.sleep(poll_interval)
                server.check_alive()
        except KeyboardInterrupt:
            echo("Stopping.")
