"""The servers' processes: each child in its own process group, stopped as a whole, and the
safety nets that stop them when their parent does not (interpreter exit, SIGTERM/SIGHUP, and
a watchdog process for a SIGKILL, where no handler runs)."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import IO, Protocol

import psutil


class Stoppable(Protocol):
    """What the safety net stops (``serve.Server``)."""

    def stop(self) -> None: ...


# ------------------------------------------------------------------- safety net

_LIVE: set[Stoppable] = set()
_LIVE_LOCK = threading.Lock()
_SIGNALS_INSTALLED = False


def track(server: Stoppable) -> None:
    """Stop ``server`` at interpreter exit or on SIGTERM/SIGHUP if it is still live then."""
    _install_safety_net()
    with _LIVE_LOCK:
        _LIVE.add(server)


def untrack(server: Stoppable) -> None:
    """``server`` has stopped: the safety net leaves it alone."""
    with _LIVE_LOCK:
        _LIVE.discard(server)


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


class Watchdog:
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


# --------------------------------------------------------------------- processes


class ProcessGroup:
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
