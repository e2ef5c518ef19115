"""The tables a fingerprint touches, read with sqlglot once per fingerprint (never per query)."""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

_QUOTED_AFTER_KEYWORD = re.compile(r'\b(?:FROM|JOIN|INTO|UPDATE|TABLE)\s+"([^"]+)"', re.IGNORECASE)


def parseable(fingerprint: str) -> str:
    """A fingerprint as SQL a parser reads: placeholders and collapsed lists made plain."""
    return fingerprint.replace("(...)", "(NULL)").replace("), ...", ")").replace("%s", "NULL")


def tables_of(sql: str) -> tuple[str, ...]:
    """Sorted table names in ``sql``; a regex fallback keeps odd SQL from losing its tables."""
    try:
        parsed = sqlglot.parse(parseable(sql), read="postgres")
        names = {
            t.name
            for statement in parsed
            if statement is not None
            for t in statement.find_all(exp.Table)
            if t.name
        }
    except (SqlglotError, RecursionError, ValueError):
        names = set(_QUOTED_AFTER_KEYWORD.findall(sql))
    return tuple(sorted(names))
