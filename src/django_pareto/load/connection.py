"""One keep-alive HTTP/1.1 connection of the load generator: a raw ``asyncio.Protocol``
feeding httptools' C parser. The runner puts at most one request in flight on it (no
pipelining) and is told when its response is complete, failed or lost."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from itertools import product
from time import perf_counter_ns
from typing import TYPE_CHECKING, Protocol, cast

from httptools import HttpParserError, HttpResponseParser

if TYPE_CHECKING:
    from django_pareto.load.prepared import Planned


class Owner(Protocol):
    """What a connection reports to (the runner)."""

    def complete(self, conn: Connection, status: int, keep_alive: bool, end_ns: int) -> None: ...

    def fail(self, conn: Connection, kind: str) -> None: ...


def _not_connected(data: bytes) -> None:
    raise RuntimeError("write before the connection was made")


# Every spelling of the header name (2**12 of them): ``name in`` this set is a case-
# insensitive test without a function call. on_header runs for every header of every
# response; measured: 130 ns a call with it, 190 ns with ``len(name) == 13 and
# name.lower() == ...`` (118 ns for an empty callback).
_SERVER_TIMING_NAMES = frozenset(
    "".join(letters).encode()
    for letters in product(*((c, c.upper()) if c.isalpha() else (c,) for c in "server-timing"))
)


class Connection(asyncio.Protocol):
    def __init__(self, owner: Owner) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self.write: Callable[[bytes], object] = _not_connected  # the transport's, once made
        self.parser = HttpResponseParser(self)
        self.request: Planned | None = None  # in flight
        self.measured = False
        self.sent_ns = 0  # just before its bytes were written
        self.start_ns = 0  # the intended start (open loop) if earlier than sent_ns
        self.server_timing: bytes | None = None  # of the response being parsed
        self.retired = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport has the Transport methods without subclassing it
        self.transport = cast(asyncio.Transport, transport)
        self.write = self.transport.write

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except HttpParserError:
            self.owner.fail(self, "invalid")

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.retired:
            self.owner.fail(self, "reset")

    # httptools callbacks. The parser calls only those the object has: no on_body (the
    # body is not kept) and no on_status (get_status_code() is cheaper).

    def on_header(self, name: bytes, value: bytes) -> None:
        if name in _SERVER_TIMING_NAMES:
            # Several Server-Timing headers are one list (RFC 9110 field combination).
            previous = self.server_timing
            self.server_timing = value if previous is None else previous + b"," + value

    def on_message_complete(self) -> None:
        end_ns = perf_counter_ns()
        parser = self.parser
        self.owner.complete(self, parser.get_status_code(), parser.should_keep_alive(), end_ns)

    def close(self) -> None:
        self.retired = True
        if self.transport is not None:
            self.transport.abort()


class HeadAwareConnection(Connection):
    """For plans with HEAD requests: a HEAD response has headers only, whatever its
    Content-Length says, and httptools has no switch for that. The response ends with its
    headers; the parser, left waiting for a body, is replaced, and a completion it still
    reports from the same bytes is ignored."""

    def __init__(self, owner: Owner) -> None:
        super().__init__(owner)
        self.ended_at_headers = False

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self.ended_at_headers = False

    def on_headers_complete(self) -> None:
        request = self.request
        if request is None or not request.head:
            return
        end_ns = perf_counter_ns()
        parser = self.parser
        status, keep_alive = parser.get_status_code(), parser.should_keep_alive()
        self.parser = HttpResponseParser(self)
        self.ended_at_headers = True
        self.owner.complete(self, status, keep_alive, end_ns)

    def on_message_complete(self) -> None:
        if self.ended_at_headers:
            self.ended_at_headers = False
            return
        super().on_message_complete()
