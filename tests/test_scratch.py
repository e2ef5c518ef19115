"""The scratch copy: the copy has the data, changes to it never reach the original."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.db.backends.sqlite3.base import DatabaseWrapper

from django_pareto.verify.scratch import (
    ScratchError,
    apply_migrations,
    resolve_migration,
    scratch_database,
)
from tests.testapp.models import Author


def index_names(alias: str, table: str) -> set[str]:
    connection = connections[alias]
    with connection.cursor() as cursor:
        return set(connection.introspection.get_constraints(cursor, table))


def add_index(alias: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute('CREATE INDEX "scratch_only_idx" ON "testapp_author" ("name")')


@pytest.mark.django_db(transaction=True)
def test_sqlite_in_memory_test_database() -> None:
    Author.objects.create(name="kept")
    with scratch_database("default") as name:
        assert connections["default"].settings_dict["NAME"] == name
        assert list(Author.objects.values_list("name", flat=True)) == ["kept"]
        Author.objects.create(name="scratch only")
        add_index("default")
        assert "scratch_only_idx" in index_names("default", "testapp_author")
    assert list(Author.objects.values_list("name", flat=True)) == ["kept"]
    assert "scratch_only_idx" not in index_names("default", "testapp_author")
    assert not Path(name).exists()


@pytest.fixture
def file_alias(tmp_path: Path, django_db_blocker: Any) -> Iterator[str]:
    """A SQLite database in a file (the usual production case), as alias "filedb".

    Not a test database of pytest-django's: the test opens it itself.
    """
    database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db.sqlite3")}
    # configure_settings fills in the defaults Django gives every alias (and needs "default").
    settings = connections.configure_settings({"default": database, "filedb": database})
    connections["filedb"] = DatabaseWrapper(settings["filedb"], "filedb")
    with django_db_blocker.unblock():
        with connections["filedb"].cursor() as cursor:
            cursor.execute("CREATE TABLE testapp_author (id INTEGER PRIMARY KEY, name TEXT)")
            cursor.execute("INSERT INTO testapp_author (name) VALUES ('kept')")
        try:
            yield "filedb"
        finally:
            connections["filedb"].close()
            del connections["filedb"]


def names(alias: str) -> list[str]:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT name FROM testapp_author ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def test_sqlite_file(file_alias: str, tmp_path: Path) -> None:
    original = connections[file_alias]
    before = (tmp_path / "db.sqlite3").read_bytes()
    with scratch_database(file_alias) as name:
        assert connections[file_alias] is not original
        with connections[file_alias].cursor() as cursor:
            cursor.execute("INSERT INTO testapp_author (name) VALUES ('scratch only')")
        add_index(file_alias)
        assert names(file_alias) == ["kept", "scratch only"]
    assert connections[file_alias] is original
    assert names(file_alias) == ["kept"]
    assert "scratch_only_idx" not in index_names(file_alias, "testapp_author")
    assert (tmp_path / "db.sqlite3").read_bytes() == before
    assert not Path(name).parent.exists()


@pytest.mark.django_db(databases=["default", "postgres"], transaction=True)
def test_postgresql_template_copy(postgres_alias: str) -> None:
    Author.objects.using(postgres_alias).create(name="kept")
    original_name = connections[postgres_alias].settings_dict["NAME"]
    with scratch_database(postgres_alias) as name:
        assert name != original_name
        assert connections[postgres_alias].settings_dict["NAME"] == name
        Author.objects.using(postgres_alias).create(name="scratch only")
        add_index(postgres_alias)
        assert Author.objects.using(postgres_alias).count() == 2
    assert list(Author.objects.using(postgres_alias).values_list("name", flat=True)) == ["kept"]
    assert "scratch_only_idx" not in index_names(postgres_alias, "testapp_author")
    with connections[postgres_alias].cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        assert cursor.fetchone() is None  # dropped


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("testapp.0001_initial", ("testapp", "0001_initial")),
        ("tests/testapp/migrations/0001_initial.py", ("testapp", "0001_initial")),
    ],
)
def test_resolve_migration(target: str, expected: tuple[str, str]) -> None:
    assert resolve_migration(target) == expected


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("0001_initial", "app_label.migration_name"),
        ("/tmp/elsewhere/0001_x.py", "not in the migrations folder of an installed app"),
    ],
)
def test_resolve_migration_errors(target: str, message: str) -> None:
    with pytest.raises(ScratchError, match=message):
        resolve_migration(target)


@pytest.mark.django_db(transaction=True)
def test_unknown_migration_is_refused_before_migrating() -> None:
    with pytest.raises(ScratchError, match=r"no migration testapp\.0099_nope"):
        apply_migrations(["testapp.0099_nope"])
