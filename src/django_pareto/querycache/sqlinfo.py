"""What a statement reads and writes, told from its SQL text: cheap, cached per string.

The cache needs two facts on the hot path: the tables a read depends on, and the tables a
write changes. Django's own SQL always starts with its verb and names its target table
first, so a look at the statement's head answers for writes; anything else that may write
(CTEs with writes, DDL, procedures) is treated as touching every table. For reads, every
identifier of the text that names a table of the database counts: a column or alias that
happens to share a table's name only makes invalidation broader, never stale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ALL = "*"  # the generation every cached result depends on: bumped by unknown writes and DDL

_IDENTIFIER = re.compile(r'"((?:[^"]|"")+)"|`([^`]+)`|\[([^\]]+)\]|([A-Za-z_][\w$]*)')
_NAME = r'(?:"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[\w$]+)'
_WRITE_HEAD = re.compile(
    r"\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|REPLACE\s+INTO|UPDATE(?:\s+OR\s+\w+)?(?:\s+ONLY)?"
    r"|DELETE\s+FROM(?:\s+ONLY)?|MERGE\s+INTO|COPY)\s+"
    rf"(?:{_NAME}\s*\.\s*)?({_NAME})",
    re.IGNORECASE,
)
# Results that change without any write: time, randomness, sequences; and locking reads.
_VOLATILE = re.compile(
    r"\b(?:random|rand|now|clock_timestamp|statement_timestamp|transaction_timestamp|timeofday"
    r"|nextval|currval|lastval|setval|gen_random_uuid|uuid_generate_v[14]|uuid|sysdate|curdate"
    r"|curtime|utc_timestamp|pg_sleep|txid_current)\s*\("
    r"|\b(?:current_timestamp|current_date|current_time|localtimestamp|localtime)\b"
    r"|'now'|\bFOR\s+(?:NO\s+KEY\s+)?(?:UPDATE|SHARE|KEY\s+SHARE)\b",
    re.IGNORECASE,
)
# Statements that change no rows: transaction control, session settings, maintenance.
_NO_DATA_CHANGE = frozenset(
    (
        *("begin", "commit", "rollback", "savepoint", "release", "start", "end"),
        *("set", "reset", "show", "pragma", "declare", "fetch", "close", "move"),
        *("listen", "unlisten", "notify", "discard", "deallocate", "prepare"),
        *("analyze", "vacuum", "lock", "checkpoint", "describe", "desc", "explain"),
        *("values", "select"),
    )
)
_SCHEMA = frozenset(["create", "alter", "drop", "rename", "comment", "grant", "revoke"])
_WRITE_VERBS = re.compile(r"\b(?:insert|update|delete|merge|truncate|copy)\b", re.IGNORECASE)

READ = "read"
WRITE = "write"
OTHER = "other"  # changes no data


@dataclass(frozen=True)
class Statement:
    kind: str  # READ, WRITE or OTHER
    tables: frozenset[str]  # written tables (WRITE; ALL when unknown) or identifiers (READ)
    volatile: bool = False  # a read whose result can change without a write
    schema: bool = False  # DDL: the set of tables may have changed


def _unquote(name: str) -> str:
    if name[:1] in '"`[':
        return name[1:-1].replace('""', '"').lower()
    return name.lower()


def _identifiers(sql: str) -> frozenset[str]:
    found = set()
    for quoted, backticked, bracketed, bare in _IDENTIFIER.findall(sql):
        found.add((quoted.replace('""', '"') or backticked or bracketed or bare).lower())
    return frozenset(found)


def _head(sql: str) -> str:
    """The statement without its leading whitespace, parentheses and comments."""
    text = sql.lstrip(" \t\r\n(")
    while text.startswith(("--", "/*")):  # leading comments (raw SQL)
        end = text.find("\n") if text.startswith("--") else text.find("*/") + 1
        if end <= 0:
            return ""
        text = text[end + 1 :].lstrip(" \t\r\n(")
    return text


def classify(sql: str) -> Statement:
    sql = _head(sql)
    match = re.match(r"[A-Za-z]+", sql)
    verb = match.group(0).lower() if match else ""
    if verb == "explain":
        if re.search(r"\banalyze\b", sql, re.IGNORECASE) and _WRITE_VERBS.search(sql):
            return Statement(WRITE, frozenset({ALL}))  # EXPLAIN ANALYZE runs the write
        return Statement(OTHER, frozenset())
    if verb == "with" and _WRITE_VERBS.search(sql) and (targets := _cte_targets(sql)):
        return Statement(WRITE, targets)
    if verb in ("select", "values", "with", "show"):
        return Statement(READ, _identifiers(sql), volatile_part(sql) is not None)
    if verb in ("insert", "replace", "update", "delete", "merge"):
        match = _WRITE_HEAD.match(sql)
        return Statement(WRITE, frozenset({_unquote(match.group(1)) if match else ALL}))
    if verb == "copy":  # COPY t FROM writes t; COPY ... TO only reads
        match = _WRITE_HEAD.match(sql)
        if match and re.search(r"\bFROM\b", sql[match.end() :], re.IGNORECASE):
            return Statement(WRITE, frozenset({_unquote(match.group(1))}))
        return Statement(OTHER, frozenset())
    if verb in _SCHEMA:
        if re.match(r"\s*(?:create|drop)\s+(?:unique\s+)?index\b", sql, re.IGNORECASE):
            return Statement(OTHER, frozenset())  # an index changes no rows
        return Statement(WRITE, frozenset({ALL}), schema=True)
    if verb in _NO_DATA_CHANGE:
        return Statement(OTHER, frozenset())
    return Statement(WRITE, frozenset({ALL}))  # TRUNCATE, CALL, DO, anything unknown


def volatile_part(sql: str) -> str | None:
    """What makes a read's result change without any write (``RANDOM(``, ``FOR UPDATE``),
    or None: such a read must never be cached."""
    match = _VOLATILE.search(sql)
    return match.group(0) if match else None


def _cte_targets(sql: str) -> frozenset[str]:
    """The tables written by a statement with CTEs, or ALL when the parser can't say."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql.replace("%s", "NULL"))
    except sqlglot.errors.ParseError:
        return frozenset({ALL})
    targets = set()
    for node in tree.find_all(exp.Insert, exp.Update, exp.Delete, exp.Merge):
        table = node.find(exp.Table)
        if table is None:
            return frozenset({ALL})
        targets.add(table.name.lower())
    # Empty when the word matched but no write parsed (a column named "update"): a read.
    return frozenset(targets)


_cache: dict[str, Statement] = {}
_CACHE_LIMIT = 4096


def statement(sql: str) -> Statement:
    """``classify`` cached per SQL string (Django's SQL repeats: one parse per shape)."""
    found = _cache.get(sql)
    if found is None:
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        found = _cache[sql] = classify(sql)
    return found
