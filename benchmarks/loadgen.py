"""Load generator efficiency: requests per client CPU-second of ``pareto load``'s engine,
wrk and Locust (FastHttpUser), against the same nginx serving a 1 KiB static file.

A private nginx (one worker) runs on CPU 1 and each client in turn on CPU 0 (taskset), one
at a time, 64 keep-alive connections, closed loop, for ``--seconds``. The order of the
clients rotates every round. Two measures per client and round:

  whole run     requests nginx served while the client lived / the client's CPU seconds
                from its rusage (os.wait4): start-up included (Python's, Locust's)
  steady state  the same between 3 s after the client started and 0.5 s before its end
                (nginx's stub_status counter and the client's CPU time sampled together)

The bars: ours >= 5x Locust's and >= 0.5x wrk's requests per CPU second; the medians of
the per-round ratios are compared, steady state and whole run.

    .venv/bin/python benchmarks/loadgen.py               # 3 rounds of 10 s each, ~2 min
    .venv/bin/python benchmarks/loadgen.py --rounds 5 --seconds 5
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

CLIENTS = ("ours", "wrk", "locust")
CONNECTIONS = 64
FILE_NAME = "file.txt"
FILE_SIZE = 1024
SERVER_CPU, CLIENT_CPU = "1", "0"
STEADY_FROM_S = 3.0  # Locust needs ~1 s to start and 1 s to ramp up its 64 users
STEADY_UNTIL_END_S = 0.5

NGINX_CONF = """\
daemon off; master_process on; worker_processes 1;
pid {tmp}/nginx.pid; error_log {tmp}/error.log;
events {{}}
http {{
  access_log off;
  client_body_temp_path {tmp}/client_body; proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  keepalive_requests 10000000;  # no reconnects in the way of the clients' steady state
  server {{
    listen 127.0.0.1:{port};
    location / {{ root {tmp}/www; }}
    location = /nginx_status {{ stub_status; }}
  }}
}}
"""

LOCUSTFILE = """\
from locust import FastHttpUser, constant, task


class FileUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def get_file(self):
        self.client.get("/{file}")
"""


@dataclass
class Measure:
    client: str
    requests: int
    cpu_s: float
    wall_s: float
    steady_requests: int
    steady_cpu_s: float
    steady_wall_s: float

    @property
    def per_cpu(self) -> float:
        return self.requests / self.cpu_s if self.cpu_s else 0.0

    @property
    def steady_per_cpu(self) -> float:
        return self.steady_requests / self.steady_cpu_s if self.steady_cpu_s else 0.0

    @property
    def steady_rps(self) -> float:
        return self.steady_requests / self.steady_wall_s if self.steady_wall_s else 0.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="per client and round")
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated")
    parser.add_argument("--ours-client", metavar="URL", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pinned(cpu: str, command: list[str]) -> list[str]:
    taskset = shutil.which("taskset")
    if taskset and (os.cpu_count() or 1) >= 2:
        return [taskset, "-c", cpu, *command]
    return command


def tool(name: str) -> str:
    """The venv's own scripts first (Locust), then PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found: install it (nginx, wrk: apt; locust: pip)")
    return found


@contextlib.contextmanager
def started(command: list[str], **kwargs: object) -> Iterator[subprocess.Popen[bytes]]:
    """A child in its own process group, ended with its group whatever happens: SIGTERM
    first (nginx's master then reaps its worker), SIGKILL if it lingers."""
    process = subprocess.Popen(command, start_new_session=True, **kwargs)  # type: ignore[call-overload]
    try:
        yield process
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(3)
                break
            except subprocess.TimeoutExpired:
                continue


@contextlib.contextmanager
def nginx(tmp: Path) -> Iterator[int]:
    port = free_port()
    tmp.chmod(0o755)  # nginx's worker runs as an unprivileged user: it must read www
    (tmp / "www").mkdir()
    (tmp / "www" / FILE_NAME).write_bytes(b"x" * FILE_SIZE)
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port))
    command = pinned(SERVER_CPU, [tool("nginx"), "-c", str(conf), "-p", str(tmp)])
    with (
        (tmp / "nginx.out").open("wb") as out,
        started(command, stdout=out, stderr=subprocess.STDOUT),
    ):
        deadline = time.monotonic() + 10
        while True:
            try:
                served(port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    errors = (tmp / "error.log").read_text()
                    raise SystemExit(f"nginx did not start: {errors}") from None
                time.sleep(0.05)
        yield port


def served(port: int) -> int:
    """nginx's count of requests served so far (stub_status)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/nginx_status")
        body = connection.getresponse().read().decode()
    finally:
        connection.close()
    match = re.search(r"\n\s*\d+\s+\d+\s+(\d+)", body)
    assert match, body
    return int(match.group(1))


def client_command(client: str, port: int, seconds: float, tmp: Path) -> list[str]:
    url = f"http://127.0.0.1:{port}/{FILE_NAME}"
    if client == "ours":
        script = str(Path(__file__).resolve())
        args = [sys.executable, script, "--ours-client", url, "--seconds", str(seconds)]
        return pinned(CLIENT_CPU, args)
    if client == "wrk":
        threads, conns = "-t1", f"-c{CONNECTIONS}"
        return pinned(CLIENT_CPU, [tool("wrk"), threads, conns, f"-d{seconds:g}s", url])
    locustfile = tmp / "locustfile.py"
    locustfile.write_text(LOCUSTFILE.format(file=FILE_NAME))
    users = str(CONNECTIONS)
    return pinned(
        CLIENT_CPU,
        [
            tool("locust"),
            *("-f", str(locustfile), "--headless", "-u", users, "-r", users),
            *("-t", f"{seconds:g}s", "--host", f"http://127.0.0.1:{port}", "--only-summary"),
        ],
    )


def measure(client: str, port: int, seconds: float, tmp: Path) -> Measure:
    command = client_command(client, port, seconds, tmp)
    output = tmp / f"{client}.out"
    before = served(port)
    start = time.monotonic()
    with output.open("wb") as out, started(command, stdout=out, stderr=subprocess.STDOUT) as child:
        watched = psutil.Process(child.pid)
        steady: list[tuple[float, int, float]] = []  # (time, served, client CPU)
        for at in (STEADY_FROM_S, seconds - STEADY_UNTIL_END_S):
            time.sleep(max(start + at - time.monotonic(), 0))
            cpu = watched.cpu_times()
            steady.append((time.monotonic(), served(port), cpu.user + cpu.system))
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - start
    if child.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed:\n{output.read_text()}")
    (t0, served0, cpu0), (t1, served1, cpu1) = steady
    return Measure(
        client=client,
        requests=served(port) - before - 1,  # minus our own status request
        cpu_s=usage.ru_utime + usage.ru_stime,
        wall_s=wall,
        steady_requests=served1 - served0 - 1,
        steady_cpu_s=cpu1 - cpu0,
        steady_wall_s=t1 - t0,
    )


def spread(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    if not values:
        return "-"
    return f"{fmt(statistics.median(values))} [{fmt(min(values))}, {fmt(max(values))}]"


def report(results: list[Measure], clients: Sequence[str]) -> None:
    by_client = {c: [m for m in results if m.client == c] for c in clients}

    def thousands(v: float) -> str:
        return f"{v / 1000:.1f}k"

    print("\nper client (median [min, max] over rounds)")
    print(f"  {'client':8} {'req/CPU-s steady':28} {'req/CPU-s whole run':28} {'req/s steady'}")
    for client, measures in by_client.items():
        steady = spread([m.steady_per_cpu for m in measures], thousands)
        whole = spread([m.per_cpu for m in measures], thousands)
        rps = spread([m.steady_rps for m in measures], thousands)
        print(f"  {client:8} {steady:28} {whole:28} {rps}")
    if "ours" not in by_client:
        return
    print("\nratios of requests per CPU second, per round (median [min, max])")
    bars = {"locust": 5.0, "wrk": 0.5}
    for other, bar in bars.items():
        if other not in by_client:
            continue
        for label, attr in (("steady", "steady_per_cpu"), ("whole run", "per_cpu")):
            ratios = [
                getattr(ours, attr) / getattr(theirs, attr)
                for ours, theirs in zip(by_client["ours"], by_client[other], strict=True)
                if getattr(theirs, attr)
            ]
            verdict = "meets" if ratios and statistics.median(ratios) >= bar else "MISSES"
            text = spread(ratios, lambda v: f"{v:.2f}x")
            print(f"  ours/{other:7} {label:10} {text:28} {verdict} the bar >= {bar:g}x")


def run_ours(url: str, seconds: float) -> None:
    """The child side: our engine in this process, one core, a closed loop."""
    from django_pareto.load.engine import run_load
    from django_pareto.load.model import LoadConfig, PlannedRequest, parse_target

    target = parse_target(url)
    path = url.split(str(target.port), 1)[1]
    raw = f"GET {path} HTTP/1.1\r\nHost: {target.host}:{target.port}\r\n"
    raw += "Connection: keep-alive\r\n\r\n"
    plan = [PlannedRequest("file", "GET", path, raw.encode())]
    config = LoadConfig(
        target=target, requests=plan, connections=CONNECTIONS, duration=seconds, processes=1
    )
    result = run_load(config)
    print(json.dumps({"completed": result.completed, "cpu_s": result.client_cpu_s}))


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.ours_client:
        run_ours(args.ours_client, args.seconds)
        return
    # A plain kill must reach the finally blocks that kill nginx and the client.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    print("command: python", shlex.join(sys.argv))
    print(f"# {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"# nginx on CPU {SERVER_CPU}, each client on CPU {CLIENT_CPU}, {CONNECTIONS} conns")
    results: list[Measure] = []
    with tempfile.TemporaryDirectory(prefix="pareto-loadgen-") as name, nginx(Path(name)) as port:
        for round_index in range(args.rounds):
            shift = round_index % len(clients)
            order = clients[shift:] + clients[:shift]
            for client in order:
                m = measure(client, port, args.seconds, Path(name))
                results.append(m)
                print(
                    f"round {round_index + 1} {client:7} {m.requests:>9} requests "
                    f"{m.cpu_s:6.2f} CPU-s  whole {m.per_cpu / 1000:6.1f}k/CPU-s  "
                    f"steady {m.steady_per_cpu / 1000:6.1f}k/CPU-s {m.steady_rps / 1000:6.1f}k/s",
                    flush=True,
                )
    report(results, clients)


if __name__ == "__main__":
    main()
