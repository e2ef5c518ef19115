"""The value a mirror stores, built from through rows.

Values are built exactly as the database gives them back (JSON-native types: a UUID
primary key becomes its string, a date its ISO form), so a value read back from the
column compares equal to a freshly computed one and drift is a plain ``!=``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from django_pareto.denorm.relation import PK_KEY

_NATIVE = (int, str, float, bool, type(None))


def jsonable(value: Any) -> Any:
    """``value`` as it reads back from a JSON column."""
    if isinstance(value, _NATIVE):
        return value
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def ids_value(related_pks: Iterable[Any], as_json: bool) -> list[Any]:
    """Distinct related pks, sorted: ``[3, 7, 12]``."""
    ordered = sorted(set(related_pks))
    return [jsonable(pk) for pk in ordered] if as_json else ordered


def fields_value(rows: Mapping[Any, Sequence[Any]], names: Sequence[str]) -> list[dict[str, Any]]:
    """One object per related row, sorted by its pk: ``[{"id": 3, "name": ...}, ...]``.

    ``rows`` maps each related pk to the values of ``names``, in that order.
    """
    return [
        {PK_KEY: jsonable(pk), **{n: jsonable(v) for n, v in zip(names, rows[pk], strict=True)}}
        for pk in sorted(rows)
    ]


def same(a: Any, b: Any) -> bool:
    """Whether two attribute values mirror to the same JSON (expressions never do)."""
    try:
        return bool(jsonable(a) == jsonable(b))
    except TypeError:
        return False
