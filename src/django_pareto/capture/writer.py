"""A bounded queue of finished requests, written to the store by a background thread.

Requests only ever ``put_nowait``: when the queue is full the record is dropped and
counted, so a slow or broken store can cost a request nothing but one failed put.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections import deque
from collections.abc import Callable

from django_pareto import conf
from django_pareto.capture.health import record_dropped, record_fault, snapshot
from django_pareto.store.base import Store
from django_pareto.store.open import open_store
from django_pareto.store.records import RequestRecord

_BATCH = 500
_BATCH_WAIT_S = 0.5
_RETRY_S = 5.0
_PRUNE_EVERY_S = 3600.0


class BackgroundWriter:
    """Collects finished requests and writes them from one thread, every half second.

    Requests only append to a deque (no lock, no wake-up of the writer: waking it per
    request cost more than the append, measured in benchmarks/capture_overhead.py).
    """

    def __init__(
        self,
        open_store: Callable[[], Store],
        queue_size: int,
        keep_params: bool,
        retention_days: float | None = None,
    ) -> None:
        self._open_store = open_store
        self._keep_params = keep_params
        self._max_pending = queue_size
        self._retention_s = retention_days * 86400 if retention_days else None
        self._pending: deque[tuple[str, RequestRecord]] = deque()
        self._wake = threading.Event()
        self._busy = False
        self._stopping = False
        self._store: Store | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._start_lock = threading.Lock()
        self._reported_faults = 0
        self._retry_at = 0.0
        self._next_prune = 0.0

    def submit(self, run: str, record: RequestRecord) -> None:
        if self._pid != os.getpid():  # first use, or we were forked (gunicorn --preload)
            self._start()
        if len(self._pending) >= self._max_pending:
            record_dropped("queue_full")
        else:
            self._pending.append((run, record))

    def _start(self) -> None:
        with self._start_lock:
            if self._pid == os.getpid():
                return
            if self._pid:  # forked: the parent's queue, thread and connection are not ours
                self._pending = deque()
                self._store = None
            self._pid = os.getpid()
            self._stopping = False
            self._thread = threading.Thread(
                target=self._loop, name="django-pareto-writer", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        while True:
            self._wake.wait(_BATCH_WAIT_S)
            self._wake.clear()
            self._busy = True
            try:
                while self._pending:
                    batch: list[tuple[str, RequestRecord]] = []
                    while self._pending and len(batch) < _BATCH:
                        batch.append(self._pending.popleft())
                    self._write(batch)
            finally:
                self._busy = False
            if self._stopping:
                break
        # The store's connection belongs to this thread (Django connections are per thread).
        self._close_store()

    def _close_store(self) -> None:
        store, self._store = self._store, None
        try:
            if store is not None:
                store.close()
        except Exception as exc:
            record_fault("store", exc)

    def _write(self, batch: list[tuple[str, RequestRecord]]) -> None:
        by_run: dict[str, list[RequestRecord]] = {}
        for run, record in batch:
            by_run.setdefault(run, []).append(record)
        for run, records in by_run.items():
            if self._store is None and time.monotonic() < self._retry_at:
                record_dropped("store_error", len(records))  # the store failed moments ago
                continue
            try:
                if self._store is None:
                    self._store = self._open_store()
                self._store.write(run, records, keep_params=self._keep_params)
                self._report_faults(run)
                self._prune()
            except Exception as exc:  # the store is down or broken: count, drop, go on
                record_fault("store", exc)
                record_dropped("store_error", len(records))
                self._retry_at = time.monotonic() + _RETRY_S
                if self._store is not None:
                    self._close_store()

    def _prune(self) -> None:
        """Retention: at most once an hour, off the request path, drop old requests."""
        if self._retention_s is None or self._store is None or time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + _PRUNE_EVERY_S
        self._store.prune(time.time() - self._retention_s)

    def _report_faults(self, run: str) -> None:
        """Once the store works again, leave the count of faults on the run for the report."""
        faults = snapshot()["faults"]
        assert isinstance(faults, dict)
        total = sum(faults.values())
        if total > self._reported_faults and self._store is not None:
            self._store.add_faults(run, total - self._reported_faults)
            self._reported_faults = total

    def _alive(self) -> bool:
        return self._thread is not None and self._pid == os.getpid() and self._thread.is_alive()

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait until everything submitted so far is written (or failed). True if drained."""
        if not self._alive():
            return not self._pending
        deadline = time.monotonic() + timeout
        while (self._pending or self._busy) and time.monotonic() < deadline:
            self._wake.set()
            time.sleep(0.005)
        return not (self._pending or self._busy)

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued, close the store's connection and end the thread."""
        if not self._alive():
            return
        self._stopping = True
        self._wake.set()
        assert self._thread is not None
        self._thread.join(timeout)
        self._thread = None


_writer: BackgroundWriter | None = None
_writer_lock = threading.Lock()


def get_writer() -> BackgroundWriter:
    global _writer
    if _writer is None:
        with _writer_lock:
            if _writer is None:
                settings = conf.get()
                _writer = BackgroundWriter(
                    lambda: open_store(settings),
                    settings.QUEUE_SIZE,
                    settings.RECORD_PARAMS,
                    settings.RETENTION_DAYS,
                )
                atexit.register(_writer.stop, 10.0)
    return _writer


def reset_writer() -> None:
    """Drain, stop and forget the writer (settings changed, or a replay ended)."""
    global _writer
    with _writer_lock:
        if _writer is not None:
            _writer.stop()
        _writer = None
