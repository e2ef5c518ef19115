"""The tables read while a view or a template fragment renders, for data-aware caching.

Every read, whether the database answered it or the query cache did, reports its tables
to the collectors of the current context; a read whose tables can't be known (volatile
functions, views, raw SQL on unknown tables) spoils them, and the page is not stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class Reads:
    tables: set[str] = field(default_factory=set)
    spoiled: bool = False
    wrote: bool = False  # a render with side effects must run every time: never stored


_active: ContextVar[tuple[Reads, ...]] = ContextVar("pareto_querycache_reads", default=())


@contextmanager
def collecting() -> Iterator[Reads]:
    reads = Reads()
    token = _active.set((*_active.get(), reads))
    try:
        yield reads
    finally:
        _active.reset(token)


def active() -> bool:
    return bool(_active.get())


def report(tables: Iterable[str], spoiled: bool = False) -> None:
    """Tell every enclosing collector that these tables were read."""
    collectors = _active.get()
    if not collectors:
        return
    tables = tuple(tables)
    for reads in collectors:
        reads.tables.update(tables)
        reads.spoiled = reads.spoiled or spoiled


def report_write() -> None:
    for reads in _active.get():
        reads.wrote = True
