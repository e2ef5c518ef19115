"""Run a Django site the way production does, on loopback: gunicorn, optionally behind nginx.

``Server`` starts gunicorn (and a private nginx) from the reference configuration files in
``load/deploy/``, waits until the site answers, tells the resource sampler which processes
are the site's (``pids()``), and stops everything it started: each server runs in its own
process group, which is signalled as a whole, so no worker outlives it.

    with Server("demo", settings_module="demosite.settings", workers=4, nginx=True) as srv:
        run_load(srv.url, ...)
"""

from __future__ import annotations

import atexit
import contextlib
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
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any, Literal, Self

import psutil

from django_pareto.load.model import LoadError

DEPLOY_DIR = Path(__file__).resolve().parent / "deploy"
GUNICORN_CONF = DEPLOY_DIR / "gunicorn.conf.py"
NGINX_TEMPLATE = DEPLOY_DIR / "nginx.conf"

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


def find_nginx() -> str | None:
    """The nginx executable: on PATH, or where Debian puts it (/usr/sbin is often not on a
    normal user's PATH)."""
    found = shutil.which("nginx")
    if found:
        return found
    fallback = Path("/usr/sbin/nginx")
    return str(fallback) if fallback.is_file() and os.access(fallback, os.X_OK) else None


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


def _nginx_build_info(nginx: str) -> str:
    done = subprocess.run([nginx, "-V"], capture_output=True, text=True, timeout=10, check=False)
    return done.stderr + done.stdout


def _render(template: str, values: Mapping[str, str]) -> str:
    """``{{name}}`` placeholders: nginx's own syntax uses both ``$name`` and ``{ }``, so
    neither string.Template nor str.format can fill an nginx file."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"no value for the placeholder {{{{{name}}}}}")
        return values[name]

    return re.sub(r"\{\{\s*(\w+)\s*\}\}", fill, template)


def render_nginx_conf(
    *,
    listen: str,
    upstream: str,
    prefix: str | Path,
    worker_processes: int | None = None,
    static_url: str | None = None,
    static_root: str | Path | None = None,
    mime_types: str | Path,
    access_log: bool = False,
    user: str | None = None,
    build_info: str = "",
) -> str:
    """The private nginx's configuration from load/deploy/nginx.conf.

    ``listen``: "127.0.0.1:8000"; ``upstream``: "unix:/path.sock" or "127.0.0.1:8001";
    ``mime_types``: the file of types to include (the distribution's mime.types);
    ``build_info``: the output of ``nginx -V``, to leave out temp paths of modules the build
    lacks (nginx-light has no uwsgi/scgi)."""
    prefix = Path(prefix)
    extra = [
        f"    {module}_temp_path {prefix}/{module};"
        for module in ("fastcgi", "uwsgi", "scgi")
        if f"--without-http_{module}_module" not in build_info
    ]
    static = ""
    if static_url and static_root and Path(static_root).is_dir() and "://" not in static_url:
        url = "/" + static_url.strip("/") + "/"
        static = (
            f"        location {url} {{\n"
            f"            alias {Path(static_root).resolve()}/;\n"
            "            expires 7d;\n"
            "            access_log off;\n"
            "        }\n"
        )
    values = {
        "user_directive": f"user {user};" if user else "",
        "worker_processes": str(worker_processes) if worker_processes else "auto",
        "prefix": str(prefix),
        "mime_types": str(mime_types),
        "access_log": f"{prefix}/access.log" if access_log else "off",
        "extra_temp_paths": "\n".join(extra),
        "upstream": upstream,
        "listen": listen,
        "static_location": static,
    }
    return _render(NGINX_TEMPLATE.read_text(), values)


# The few types a Django site's static files need, for an nginx without a mime.types file.
_MINIMAL_MIME_TYPES = """types {
    text/html html htm;
    text/css css;
    application/javascript js mjs;
    application/json json;
    image/svg+xml svg;
    image/png png;
    image/jpeg jpg jpeg;
    image/gif gif;
    image/webp webp;
    image/x-icon ico;
    font/woff woff;
    font/woff2 woff2;
    text/plain txt;
}
"""


def _mime_types_file(build_info: str, prefix: Path) -> Path:
    """The distribution's mime.types (next to the nginx.conf it was built for), or a minimal
    one written into the private prefix."""
    match = re.search(r"--conf-path=(\S+)", build_info)
    if match:
        candidate = Path(match.group(1)).parent / "mime.types"
        if candidate.is_file():
            return candidate
    path = prefix / "mime.types"
    path.write_text(_MINIMAL_MIME_TYPES)
    return path


# ------------------------------------------------------------------- safety net

_LIVE: set[Server] = set()
_LIVE_LOCK = threading.Lock()
_SIGNALS_INSTALLED = False


def _stop_all() -> None:
    with _LIVE_LOCK:
        servers = list(_LIVE)
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """SIGTERM/SIGHUP would end Python without running __exit__ or atexit, leaving the
    servers (in their own sessions) running: turn them into SystemExit so everything
    unwinds; with no server alive, behave as the default handler."""
    with _LIVE_LOCK:
        alive = bool(_LIVE)
    if not alive:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    raise SystemExit(128 + signum)


def _install_safety_net() -> None:
    global _SIGNALS_INSTALLED
    if _SIGNALS_INSTALLED:
        return
    _SIGNALS_INSTALLED = True
    atexit.register(_stop_all)
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread
    for signum in (signal.SIGTERM, signal.SIGHUP):
        # Only where nobody else handles the signal (a test runner, a CLI framework).
        if signal.getsignal(signum) in (signal.SIG_DFL, None):
            signal.signal(signum, _on_signal)


# What the watchdog runs: it reads "+PGID" (a group to guard), "rm PATH" (a directory to
# remove) and finally "done" on stdin. End of input without "done" means the process that
# started the servers died without stopping them (SIGKILL, the OOM killer): it stops the
# groups itself (SIGTERM, then SIGKILL) and removes the run directory.
_WATCHDOG_CODE = """
import os, shutil, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
groups, dirs = [], []
for line in sys.stdin:
    word = line.strip()
    if word == "done":
        sys.exit(0)
    if word.startswith("+"):
        groups.append(int(word[1:]))
    elif word.startswith("rm "):
        dirs.append(word[3:])
def signal_groups(sig):
    alive = []
    for pgid in groups:
        try:
            os.killpg(pgid, sig)
            alive.append(pgid)
        except OSError:
            pass
    return alive
signal_groups(signal.SIGTERM)
deadline = time.monotonic() + 3
while signal_groups(0) and time.monotonic() < deadline:
    time.sleep(0.1)
signal_groups(signal.SIGKILL)
for path in dirs:
    shutil.rmtree(path, ignore_errors=True)
"""


class _Watchdog:
    """A tiny process that outlives this one: if this process dies without stopping its
    servers (SIGKILL, where no handler can run), the watchdog stops them. It learns that
    from the end of its stdin, which the kernel closes when this process dies."""

    def __init__(self) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-S", "-c", _WATCHDOG_CODE],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # not hit by a Ctrl-C meant for this process
        )

    def tell(self, line: str) -> None:
        assert self.popen.stdin is not None
        with contextlib.suppress(OSError):
            self.popen.stdin.write(line + "\n")
            self.popen.stdin.flush()

    def close(self, release: bool = True) -> None:
        """``release``: everything is stopped, the watchdog just exits; else it stops what
        it guards (a stop that was itself interrupted)."""
        if release:
            self.tell("done")
        assert self.popen.stdin is not None
        with contextlib.suppress(OSError):
            self.popen.stdin.close()
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


# ------------------------------------------------------------------------ server


class _Process:
    """A child in its own process group (session), its log file, and how to stop it."""

    def __init__(self, name: str, args: list[str], *, cwd: Path, env: dict[str, str], log: Path):
        self.name = name
        self.log = log
        self._stopped = False
        self._log_file: IO[bytes] = open(log, "ab")  # noqa: SIM115 - closed in stop()
        try:
            self.popen = subprocess.Popen(
                args,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                # Its own session: Ctrl-C in the terminal does not reach it half-way (we
                # stop it in order), and the whole group can be killed at the end.
                start_new_session=True,
            )
        except OSError:
            self._log_file.close()
            raise

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tree(self) -> list[int]:
        """The master then its descendants (workers), as they are now."""
        if not self.alive():
            return []
        try:
            master = psutil.Process(self.pid)
            children = master.children(recursive=True)
        except psutil.Error:
            return []
        return [self.pid, *sorted(child.pid for child in children)]

    def stop(self, graceful: signal.Signals, timeout: float) -> None:
        if self._stopped:
            return  # the group id may belong to someone else by now
        pgid = self.pid  # a session leader's group id is its pid
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, graceful)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                self.popen.wait()
        # Workers the master left behind (it was killed, or crashed) are still in its group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        self._stopped = True
        self._log_file.close()


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
        self._gunicorn: _Process | None = None
        self._nginx: _Process | None = None
        self._app_address: str | tuple[str, int] | None = None
        self._watchdog: _Watchdog | None = None

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
        _install_safety_net()
        with _LIVE_LOCK:
            _LIVE.add(self)
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
        self._watchdog = _Watchdog()
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
        self._gunicorn = _Process(
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
        build_info = _nginx_build_info(nginx_bin)
        address = self._app_address
        assert address is not None
        upstream = f"unix:{address}" if isinstance(address, str) else _hostport(*address)
        # A root master would run its workers as "nobody", who cannot enter our private
        # (0700) run directory nor connect to the socket: keep them as the invoking user.
        user = "root" if os.geteuid() == 0 else None
        conf = render_nginx_conf(
            listen=_hostport(self.host, self.port),
            upstream=upstream,
            prefix=prefix,
            worker_processes=self.nginx_workers,
            static_url=self.site.static_url,
            static_root=self.site.static_root,
            mime_types=_mime_types_file(build_info, prefix),
            access_log=self.access_log,
            user=user,
            build_info=build_info,
        )
        conf_path = prefix / "nginx.conf"
        conf_path.write_text(conf)
        args = [
            nginx_bin,
            "-p",
            f"{prefix}/",
            "-c",
            str(conf_path),
            # The error log before the configuration is read (nginx >= 1.19.5): otherwise
            # the compiled-in /var/log/nginx/error.log, unwritable for a normal user.
            "-e",
            str(prefix / "error.log"),
        ]
        self._nginx = _Process(
            "nginx", args, cwd=prefix, env=dict(os.environ), log=prefix / "stderr.log"
        )
        if self._watchdog is not None:
            self._watchdog.tell(f"+{self._nginx.pid}")
        self._wait_http(self._nginx, (self.host, self.port), deadline)

    def _wait_http(
        self, process: _Process, address: str | tuple[str, int], deadline: float
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
            with _LIVE_LOCK:
                _LIVE.discard(self)
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
