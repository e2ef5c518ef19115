"""A scratch copy of the site's database, so a fix is measured without touching the real one.

Inside ``scratch_database(alias)`` this thread's ``connections[alias]`` is a new connection
to the copy; the original connection object and its settings are left as they were and are
put back on exit, and the copy is deleted.

    with scratch_database("default"):
        call_command("migrate", "blog", "0042_pareto_indexes")
        ...  # replay the workload against the copy
"""

from __future__ import annotations

import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper


class ScratchError(Exception):
    """The database cannot be copied; the message says why and what to do."""


@contextmanager
def scratch_database(alias: str = "default") -> Iterator[str]:
    """Point ``connections[alias]`` at a copy of its database; yields the copy's name."""
    original = connections[alias]
    copy = _COPIERS.get(original.vendor)
    if copy is None:
        raise ScratchError(
            f"cannot copy a {original.vendor} database yet (SQLite and PostgreSQL only)"
        )
    with copy(original) as name:
        scratch = original.__class__({**original.settings_dict, "NAME": name}, alias)
        connections[alias] = scratch
        try:
            yield name
        finally:
            scratch.close()
            connections[alias] = original


@contextmanager
def _sqlite_copy(original: BaseDatabaseWrapper) -> Iterator[str]:
    source = str(original.settings_dict["NAME"])
    directory = tempfile.mkdtemp(prefix="pareto-scratch-")
    target = Path(directory) / "scratch.sqlite3"
    uri = original.is_in_memory_db()  # type: ignore[attr-defined]
    # The backup API copies a consistent snapshot, WAL pages and in-memory test databases
    # included, which a plain file copy would not.
    with sqlite3.connect(source, uri=uri) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    try:
        yield str(target)
    finally:
        for path in Path(directory).iterdir():
            path.unlink()
        Path(directory).rmdir()


@contextmanager
def _postgresql_copy(original: BaseDatabaseWrapper) -> Iterator[str]:
    source = str(original.settings_dict["NAME"])
    name = f"{source[:40]}_scratch_{uuid.uuid4().hex[:8]}"
    # CREATE DATABASE ... TEMPLATE needs no other session on the template: ours goes first.
    original.close()
    quote = original.ops.quote_name
    with original._nodb_cursor() as cursor:
        try:
            cursor.execute(f"CREATE DATABASE {quote(name)} TEMPLATE {quote(source)}")
        except Exception as exc:
            raise ScratchError(
                f"cannot copy database {source!r}: {exc}".strip()
                + " (CREATE DATABASE ... TEMPLATE needs every other connection to it closed:"
                " stop the site's workers, shells and pgbouncer pools on it first)"
            ) from exc
    try:
        yield name
    finally:
        with original._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {quote(name)}")


_COPIERS: dict[str, Any] = {"sqlite": _sqlite_copy, "postgresql": _postgresql_copy}


def resolve_migration(target: str) -> tuple[str, str]:
    """``app_label.migration_name`` or the path of a migration file -> (app_label, name)."""
    from django.apps import apps

    path = Path(target)
    if target.endswith(".py") or path.exists():
        path = path.resolve()
        for config in apps.get_app_configs():
            if path.parent.parent == Path(config.path).resolve():
                return config.label, path.stem
        raise ScratchError(f"{target}: not in the migrations folder of an installed app")
    label, dot, name = target.partition(".")
    if not dot or not name:
        raise ScratchError(
            f"{target!r}: give a migration as app_label.migration_name or a path to its file"
        )
    return label, name


def apply_migrations(targets: list[str], alias: str = "default") -> list[tuple[str, str]]:
    """Migrate ``alias`` forward to each target in turn (on the scratch copy, by design)."""
    from django.core.management import call_command
    from django.db.migrations.loader import MigrationLoader

    resolved = [resolve_migration(t) for t in targets]
    graph = MigrationLoader(connections[alias], ignore_no_migrations=True).graph
    for key in resolved:
        if key not in graph.nodes:
            raise ScratchError(f"no migration {key[0]}.{key[1]} (is the file written?)")
    for label, name in resolved:
        call_command("migrate", label, name, database=alias, verbosity=0)
    return resolved
