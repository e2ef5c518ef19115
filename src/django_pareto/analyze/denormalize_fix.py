"""The fix of ``pareto.D001``: the field to add, where, and how reads switch to it.

Only text and the app registry: the runtime (``django_pareto.denorm``) is never imported,
so the advice is the same whether or not it is installed yet.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from django.core.exceptions import FieldDoesNotExist
from django.db import models

from django_pareto.analyze.denormalize_sql import FILTER, PER_ROW, PREFETCH, ManyToMany
from django_pareto.analyze.findings import AddMirror, Fix
from django_pareto.analyze.indexes import index_name
from django_pareto.analyze.schema import SchemaMap

RUNTIME = "django_pareto.denorm"
# A copy of more related columns than this is a second table inside every parent row.
MAX_FIELDS = 3
# A CharField up to this long is a short label: a few dozen bytes per copied element.
MAX_CHAR_LENGTH = 100


class _Read(Protocol):
    kind: str
    callsite: str | None
    counts: bool
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Copy:
    """What the new field holds."""

    name: str  # "tag_ids", "tag_info"
    fields: tuple[str, ...]  # related fields copied beside the ids
    selected: tuple[str, ...]  # the related table's columns the reads selected
    note: str | None = None  # why it holds less than the reads select
    gin: bool = False  # a GinIndex on it (PostgreSQL, when the run filters through it)
    array: bool = False  # MirrorArrayField

    def with_options(self, *, gin: bool, array: bool) -> Copy:
        return replace(self, gin=gin, array=array)


def what_to_store(schema: SchemaMap, rel: ManyToMany, reads: Iterable[_Read]) -> Copy:
    """Ids, or ids with the few short columns the reads select (and why not more)."""
    selected: list[str] = []
    for read in reads:
        if read.kind in (PREFETCH, PER_ROW):
            selected += [c for c in read.columns if c not in selected]
    pk = rel.target._meta.pk
    columns = [c for c in selected if pk is None or c != pk.column]
    fields = [schema.field(rel.target_table, c) for c in columns]
    name = rel.target.__name__
    note = None
    if any(f is None or not _cheap(f) for f in fields):
        others = ", ".join(
            f"{name}.{f.name} ({type(f).__name__})" if f is not None else c
            for c, f in zip(columns, fields, strict=True)
            if f is None or not _cheap(f)
        )
        note = (
            f"the reads select {others}: not copied into every {rel.model.__name__} (long "
            f"text, JSON and relations are not short values); the copy holds ids: load the "
            f"{name} rows that need them with {name}.objects.in_bulk(ids), or keep the "
            "prefetch where they are shown"
        )
    elif len(fields) > MAX_FIELDS:
        note = (
            f"the reads select {len(fields)} columns of {name} (more than {MAX_FIELDS}: a "
            "copy of them all is a second table in every row); the copy holds ids"
        )
    chosen = () if note else tuple(f.name for f in fields if f is not None)
    return Copy(copy_name(rel, bool(chosen)), chosen, tuple(selected), note)


def _cheap(f: models.Field) -> bool:  # type: ignore[type-arg]
    """A short value: cheap to copy into every parent and to read back from JSON."""
    if isinstance(f, models.BooleanField | models.IntegerField) and not f.is_relation:
        return True
    if isinstance(f, models.CharField):
        return f.max_length is not None and f.max_length <= MAX_CHAR_LENGTH
    return False


def singular(name: str) -> str:
    """English singular of a relation name, for the usual plurals ("favorited_by" stays)."""
    if name.endswith("ies") and len(name) > 3:
        return name[:-3] + "y"
    if name.endswith(("sses", "xes", "ches", "shes")):
        return name[:-2]
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return name


def copy_name(rel: ManyToMany, with_fields: bool) -> str:
    """``tag_ids`` (``tag_info`` with fields), or another name when the model has that one."""
    suffix = "info" if with_fields else "ids"
    for name in (f"{singular(rel.name)}_{suffix}", f"{rel.name}_{suffix}", f"{rel.name}_mirror"):
        if not _taken(rel.model, name):
            return name
    return f"{rel.name}_{suffix}_copy"


def _taken(model: type[models.Model], name: str) -> bool:
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return hasattr(model, name)
    return True


def existing_mirror(rel: ManyToMany) -> str | None:
    """The name of a field of ``django_pareto.denorm`` that copies ``rel`` already."""
    for f in rel.model._meta.concrete_fields:
        # Read by name, not by class: the analysis does not import the runtime.
        if type(f).__module__.startswith(RUNTIME) and getattr(f, "relation_name", None) == rel.name:
            return f.name
    return None


def field_code(mirror: AddMirror) -> str:
    """The line of the model that declares the copy."""
    kind = "MirrorArrayField" if mirror.array else "MirrorField"
    fields = ", ".join(f'"{f}"' for f in mirror.fields)
    extra = f", fields=[{fields}]" if mirror.fields else ""
    return f'{mirror.name} = {kind}("{mirror.relation}"{extra})'


def gin_index_name(rel: ManyToMany, copy: Copy) -> str:
    return index_name(rel.table, (copy.name, "gin"))


def build_fix(rel: ManyToMany, copy: Copy, reads: Iterable[_Read]) -> Fix:
    reads = list(reads)
    model = rel.model.__name__
    var = model.lower()
    sites = _sites(r.callsite for r in reads if r.kind in (PREFETCH, PER_ROW))
    mirror = AddMirror(
        app_label=rel.model._meta.app_label,
        model=model,
        relation=rel.name,
        name=copy.name,
        fields=copy.fields,
        array=copy.array,
        gin_index=gin_index_name(rel, copy) if copy.gin else None,
        reads=tuple(sites),
    )
    code = field_code(mirror)
    kind = "MirrorArrayField" if copy.array else "MirrorField"
    counts = any(r.counts for r in reads)
    shape = (
        "the related pks, sorted"
        if not copy.fields
        else f"dicts of id, {', '.join(copy.fields)}, sorted by id"
    )
    summary = (
        f"Add {code} to {model} next to its {rel.name} field (from {RUNTIME} import {kind}) "
        f"and migrate: `pareto fix` writes the migration that adds and backfills it, and "
        f'"{RUNTIME}" in INSTALLED_APPS keeps it in sync. Then read {var}.{copy.name} '
        f"({shape}) instead of {var}.{rel.name}"
        + (f" (len({var}.{copy.name}) for a count)" if counts else "")
        + (f" at {', '.join(sites)}" if sites else "")
        + ", and drop its prefetch there."
    )
    filters = any(r.kind == FILTER for r in reads)
    if filters and copy.gin:
        summary += (
            f" Filters can use {model}.objects.filter({copy.name}__has=<pk>): the migration "
            f"adds a GinIndex on {copy.name}."
        )
    elif filters:
        summary += " Keep the filters through the relation on its join."
    summary += " The many-to-many stays: writes go through it as before and the copy follows."
    return Fix(summary, code=code, location=field_location(rel.model, rel.name), add_mirror=mirror)


def _sites(callsites: Iterable[str | None]) -> list[str]:
    """Distinct "file:line" of call sites, in order."""
    found: list[str] = []
    for site in callsites:
        where = site.split(" in ", 1)[0] if site else None
        if where and where not in found:
            found.append(where)
    return found


def field_location(model: type[models.Model], name: str) -> str | None:
    """ "file:line" of the line that declares field ``name`` (in the model or a base)."""
    declares = re.compile(rf"^\s+{re.escape(name)}\s*(:[^=]*)?=")
    for cls in model.__mro__:
        if not (isinstance(cls, type) and issubclass(cls, models.Model)) or cls is models.Model:
            continue
        try:
            path = inspect.getsourcefile(cls)
            lines, start = inspect.getsourcelines(cls)
        except (OSError, TypeError):
            continue
        for offset, text in enumerate(lines if path else ()):
            if declares.match(text):
                return f"{_shown(path or '')}:{start + offset}"
    return None


def _shown(path: str) -> str:
    """Relative to the project when inside it, as call sites are shown."""
    resolved, here = Path(path).resolve(), Path.cwd().resolve()
    return str(resolved.relative_to(here)) if resolved.is_relative_to(here) else path
