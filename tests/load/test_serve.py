"""`pareto serve`: the demo site under gunicorn (and nginx) answers, and leaves nothing
running once stopped, whatever happened."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from django_pareto.load.nginx import NGINX_TEMPLATE, find_nginx, render_nginx_conf
from django_pareto.load.sampler import ResourceSampler
from django_pareto.load.serve import GUNICORN_CONF, ServeError, Server
from tests.load.conftest import DEMO, SETTINGS
from tests.services import skip_or_fail


@pytest.fixture
def nginx_installed() -> None:
    if find_nginx() is None:
        skip_or_fail("nginx is not installed (apt-get install nginx-light)")


def get(url: str) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def assert_all_gone(pids: list[int]) -> None:
    for pid in pids:
        if psutil.pid_exists(pid):
            try:
                status = psutil.Process(pid).status()
            except psutil.NoSuchProcess:
                continue
            # A zombie has exited; only its parent's wait is missing.
            assert status == psutil.STATUS_ZOMBIE, f"pid {pid} is still running ({status})"


def wait_until_gone(pids: list[int], limit: float = 15.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if not alive or all(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE for pid in alive):
            return
        time.sleep(0.1)


def descendants(pids: list[int]) -> list[int]:
    found = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            found += [child.pid for child in psutil.Process(pid).children(recursive=True)]
    return found


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Servers a test starts; stopped whatever the test did."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def test_gunicorn_serves_the_demo(demo_env: dict[str, str], servers: list[Server]) -> None:
    server = Server(DEMO, settings_module=SETTINGS, workers=2, env=demo_env)
    servers.append(server)
    with server:
        status, _ = get(server.url)
        assert status == 200
        pids = server.pids()
        assert set(pids) == {"app"}
        master, *workers = pids["app"]
        assert len(workers) == 2
        assert {p.pid for p in psutil.Process(master).children()} == set(workers)
        assert server.workers == 2
        assert server.url == f"http://127.0.0.1:{server.port}/"
        assert server.site is not None and server.site.wsgi_app == "demosite.wsgi:application"
        all_pids = pids["app"] + descendants(pids["app"])
        with ResourceSampler.for_server(server, interval=0.1, services=False) as sampler:
            for _ in range(5):
                get(server.url)
        usage = sampler.result().components["app"]
        assert usage.processes_max == 3
        assert usage.parallelism == 2
        run_dir = server.run_dir
        assert run_dir is not None and (run_dir / "gunicorn.log").is_file()
    assert not server.running
    assert_all_gone(all_pids)
    assert port_free(server.port)
    assert not run_dir.exists()  # a temporary run directory is removed


def test_nginx_in_front(
    demo_env: dict[str, str], servers: list[Server], nginx_installed: None, tmp_path: Path
) -> None:
    static = tmp_path / "static"
    static.mkdir()
    (static / "hello.txt").write_text("hello from nginx\n")
    env = {**demo_env}
    server = Server(
        DEMO,
        settings_module=SETTINGS,
        workers=2,
        nginx=True,
        nginx_workers=1,
        env=env,
        run_dir=tmp_path / "run",
    )
    servers.append(server)
    with server:
        status, headers = get(server.url)
        assert status == 200
        assert headers["Server"].startswith("nginx")
        pids = server.pids()
        assert len(pids["app"]) == 3
        assert len(pids["nginx"]) == 2  # master + 1 worker
        conf = (tmp_path / "run" / "nginx" / "nginx.conf").read_text()
        assert "keepalive 32;" in conf
        assert "unix:" in conf  # gunicorn on a socket behind nginx
        assert server.parallelism() == {"app": 2, "nginx": 1}
        all_pids = pids["app"] + pids["nginx"]
        all_pids += descendants(all_pids)
    assert_all_gone(all_pids)
    assert port_free(server.port)
    assert (tmp_path / "run" / "gunicorn.log").is_file()  # a given run directory is kept


def test_nginx_serves_static_root(tmp_path: Path) -> None:
    static = tmp_path / "collected"
    static.mkdir()
    conf = render_nginx_conf(
        listen="127.0.0.1:8000",
        upstream="127.0.0.1:8001",
        prefix=tmp_path,
        static_url="static/",
        static_root=static,
        mime_types="/nonexistent/mime.types",
    )
    assert f"location /static/ {{\n            alias {static}/;" in conf
    assert "server 127.0.0.1:8001;" in conf
    assert "{{" not in conf
    without = render_nginx_conf(
        listen="127.0.0.1:8000",
        upstream="unix:/tmp/x.sock",
        prefix=tmp_path,
        static_url="static/",
        static_root=tmp_path / "missing",
        mime_types="/nonexistent/mime.types",
        build_info="--without-http_uwsgi_module",
    )
    assert "location /static/" not in without
    assert "uwsgi_temp_path" not in without and "scgi_temp_path" in without


def test_reference_files_are_shipped() -> None:
    assert GUNICORN_CONF.is_file() and NGINX_TEMPLATE.is_file()
    # The gunicorn file is plain Python that reads its settings from the environment.
    compile(GUNICORN_CONF.read_text(), str(GUNICORN_CONF), "exec")


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "example.com", "::"])
def test_non_loopback_bind_is_refused(host: str) -> None:
    with pytest.raises(ServeError, match="loopback"):
        Server(DEMO, settings_module=SETTINGS, host=host)


def test_port_in_use_is_a_clear_error(demo_env: dict[str, str], servers: list[Server]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        server = Server(DEMO, settings_module=SETTINGS, port=port, env=demo_env)
        servers.append(server)
        before = {p.pid for p in psutil.Process().children(recursive=True)}
        with pytest.raises(ServeError, match=f"127.0.0.1:{port} is already in use"):
            server.start()
        after = {p.pid for p in psutil.Process().children(recursive=True)}
    assert after <= before
    assert not server.running


def test_app_that_fails_to_boot_shows_the_log(
    demo_env: dict[str, str], servers: list[Server]
) -> None:
    server = Server(
        DEMO,
        settings_module=SETTINGS,
        wsgi_app="demosite.no_such_module:application",
        env=demo_env,
        start_timeout=20,
    )
    servers.append(server)
    # Children that earlier tests left on purpose (multiprocessing's resource tracker)
    # are not the server's.
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(ServeError) as info:
        server.start()
    message = str(info.value)
    assert "gunicorn exited during start" in message
    assert "No module named 'demosite.no_such_module'" in message
    assert not server.running
    assert port_free(server.port)
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    assert all(child.status() == psutil.STATUS_ZOMBIE for child in left)


def test_bad_settings_module_is_a_clear_error(demo_env: dict[str, str]) -> None:
    server = Server(DEMO, settings_module="demosite.nope", env=demo_env)
    with pytest.raises(ServeError, match=r"cannot load the settings demosite\.nope"):
        server.start()


def test_settings_module_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    with pytest.raises(ServeError, match="no settings module"):
        Server(DEMO)


SERVE_FOREVER = """
import json
import signal
from django_pareto.load import serve

# As in a terminal: a shell's background job (pytest run with &) inherits SIGINT ignored.
signal.signal(signal.SIGINT, signal.default_int_handler)

start = serve.Server.start


def start_and_tell(self):
    started = start(self)
    print(json.dumps(self.pids()), flush=True)
    return started


serve.Server.start = start_and_tell
serve.serve_forever({demo!r}, settings_module={settings!r}, workers=1, nginx={nginx},
                    echo=lambda line: print(line, flush=True))
"""


@pytest.mark.parametrize(
    ("signum", "nginx"),
    [
        pytest.param(signal.SIGINT, False, id="ctrl-c"),
        pytest.param(signal.SIGTERM, False, id="sigterm"),
        pytest.param(signal.SIGTERM, True, id="sigterm-nginx"),
        # No handler runs on SIGKILL: the watchdog process stops the servers.
        pytest.param(signal.SIGKILL, True, id="sigkill-nginx"),
    ],
)
def test_serve_forever_stops_everything_on_a_signal(
    demo_env: dict[str, str], signum: signal.Signals, nginx: bool
) -> None:
    if nginx and find_nginx() is None:
        skip_or_fail("nginx is not installed (apt-get install nginx-light)")
    code = SERVE_FOREVER.format(demo=str(DEMO), settings=SETTINGS, nginx=nginx)
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, **demo_env},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    pids: dict[str, list[int]] = {}
    try:
        assert proc.stdout is not None
        pids = json.loads(proc.stdout.readline())
        serving = proc.stdout.readline()
        assert serving.startswith(f"Serving {SETTINGS} at http://127.0.0.1:")
        url = serving.split(" at ")[1].split()[0]
        assert get(url)[0] == 200
        every = [pid for group in pids.values() for pid in group]
        every += descendants(every)
        assert len(pids["app"]) == 2 and (not nginx or len(pids["nginx"]) >= 2)
        proc.send_signal(signum)
        proc.wait(timeout=15)
        if signum == signal.SIGINT:
            assert proc.stdout.read().strip() == "Stopping."
            assert proc.returncode == 0
        elif signum == signal.SIGKILL:
            assert proc.returncode == -signal.SIGKILL
            wait_until_gone(every)
        else:
            assert proc.returncode == 128 + signum
        assert_all_gone(every)
        port = int(url.rsplit(":", 1)[1].strip("/"))
        assert port_free(port)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        # Whatever happened, the servers it started go too (their masters lead their groups).
        for master in [group[0] for group in pids.values() if group]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(master, signal.SIGKILL)
        if proc.stdout is not None:
            proc.stdout.close()
