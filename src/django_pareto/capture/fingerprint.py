"""Fingerprints: one normalized text for every execution of "the same query".

Django already hands us parameterized SQL (``%s`` placeholders), so normalizing is cheap:
inline literals (raw SQL, ``LIMIT``/``OFFSET`` that Django inlines) become ``%s``,
placeholder lists in ``IN (...)`` collapse, multi-row ``VALUES`` keep their first row,
whitespace collapses and Django's generated savepoint names are unified. No parsing happens
here: this runs for every query of every request, and results are cached by the raw SQL.
"""

from __future__ import annotations

import hashlib
import re

# Order matters: strings first (they may contain digits or parentheses), then numbers.
_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w\"$.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w\"])")
_SAVEPOINT = re.compile(r'"s\d+_x\d+"')
_WHITESPACE = re.compile(r"\s+")
_IN_LIST = re.compile(r"\bIN \(%s(?:, ?%s)*\)", re.IGNORECASE)
_VALUES_ROWS = re.compile(r"(\((?:%s|DEFAULT|NULL)(?:, (?:%s|DEFAULT|NULL))*\))(?:, \1)+")
_SPACE_AFTER_PAREN = re.compile(r"\(\s+")
_SPACE_BEFORE_PAREN = re.compile(r"\s+\)")

_CACHE_LIMIT = 20_000
_cache: dict[str, str] = {}


def normalize(sql: str) -> str:
    """Return the fingerprint text of ``sql``.

    >>> normalize('SELECT * FROM "t" WHERE "id" IN (%s, %s, %s) LIMIT 21')
    'SELECT * FROM "t" WHERE "id" IN (...) LIMIT %s'
    """
    cached = _cache.get(sql)
    if cached is not None:
        return cached
    text = _STRING.sub("%s", sql)
    text = _NUMBER.sub("%s", text)
    text = _SAVEPOINT.sub('"s_x"', text)
    text = _WHITESPACE.sub(" ", text).strip()
    text = _SPACE_AFTER_PAREN.sub("(", text)
    text = _SPACE_BEFORE_PAREN.sub(")", text)
    text = _VALUES_ROWS.sub(r"\1, ...", text)
    text = _IN_LIST.sub("IN (...)", text)
    if len(_cache) >= _CACHE_LIMIT:
        # Bounded memory: a site that generates unbounded distinct SQL must not grow us.
        _cache.clear()
    _cache[sql] = text
    return text


def fingerprint_id(text: str) -> str:
    """A short stable id for a fingerprint text (same in every process and every store)."""
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
