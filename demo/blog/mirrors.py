"""The demo's fix of pareto.D001 (P15, and tags): copies of many-to-many relations.

A field can't come and go with a setting the way the demo's code fixes do: the column
must exist. So, with ``DEMO_FIXED=1``, ``Article`` declares a mirror only where a
migration written by ``pareto fix`` (``blog/migrations/*_pareto_*.py``) adds it, the same
field the doctor advised; the views then read the copy instead of the relation. Without
those migrations (the planted state, or advice the demo doesn't know how to read) nothing
changes.
"""

from __future__ import annotations

import ast
from pathlib import Path

from django.conf import settings

# The mirrors the demo's views know how to read: name -> MirrorField(relation, fields=...).
KNOWN: dict[str, tuple[str, tuple[str, ...]]] = {
    "tag_info": ("tags", ("name", "slug")),
    "favorited_by_ids": ("favorited_by", ()),
}
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _constant(node: ast.expr | None) -> object:
    try:
        return ast.literal_eval(node) if node is not None else None
    except ValueError:
        return None


def added_by(source: str) -> set[str]:
    """The known mirrors of Article that a migration's ``AddField`` operations add."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "AddField"):
            continue
        kwargs = {k.arg: k.value for k in node.keywords}
        field = kwargs.get("field")
        name = _constant(kwargs.get("name"))
        if (
            _constant(kwargs.get("model_name")) != "article"
            or not isinstance(name, str)
            or name not in KNOWN
            or not isinstance(field, ast.Call)
            or getattr(field.func, "id", getattr(field.func, "attr", None)) != "MirrorField"
        ):
            continue
        relation = _constant(field.args[0]) if field.args else None
        fields = {k.arg: _constant(k.value) for k in field.keywords}.get("fields") or []
        if (relation, tuple(fields)) == KNOWN[name]:  # type: ignore[arg-type]
            found.add(name)
    return found


def applied() -> frozenset[str]:
    fixed = getattr(settings, "DEMO_N_PLUS_ONE_FIXED", False)
    if not (fixed and getattr(settings, "DEMO_MIRRORS", True)):
        return frozenset()
    names: set[str] = set()
    for path in sorted(MIGRATIONS.glob("*_pareto_*.py")):
        names |= added_by(path.read_text())
    return frozenset(names)


# Decided once, when the models are defined.
APPLIED = applied()
