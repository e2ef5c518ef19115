"""The tables a fingerprint touches, read with sqlglot once per fingerprint (never per query)."""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

_QUOTED_AFTER_KEYWORD = re.compile(r'\b(?:FROM|JOIN|INTO|UPDATE|TABLE)\s+"([^"]+)"', re.IGNORECASE)


def tables_of(sql: str) -> tuple[str, ...]:
    """Sorted table names in ``sql``; a regex fallback keeps odd SQL from losing its tables."""
    try:
        # Fingerprints hold placeholders and collapsed lists; give the parser plain SQL.
        plain = sql.replace("(...)", "(NULL)").replace("), ...", ")").replace("%s", "NULL")
        parsed = sqlglot.parse(plain, read="postgres")
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
