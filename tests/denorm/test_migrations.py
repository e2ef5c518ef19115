"""Mirrors in migrations: the fields deconstruct to what was declared, ``makemigrations``
stays clean, and ``BackfillMirror`` fills the rows that exist when the field is added."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connections, migrations, models
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.writer import MigrationWriter
from django.test import override_settings

from django_pareto.denorm import MirrorArrayField, MirrorField
from django_pareto.denorm.operations import BackfillMirror
from tests.denorm_app.models import Article, PgArticle

from .conftest import ALIASES, assert_in_sync

pytestmark = pytest.mark.django_db(databases=ALIASES, transaction=True)


def test_makemigrations_is_clean_for_the_test_app() -> None:
    call_command("makemigrations", "denorm_app", check=True, dry_run=True, verbosity=0)


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        (MirrorField("tags"), ("django_pareto.denorm.MirrorField", ["tags"], {})),
        (
            MirrorField("tags", fields=["name", "slug"], verbose_name="tags, copied"),
            (
                "django_pareto.denorm.MirrorField",
                ["tags"],
                {"fields": ["name", "slug"], "verbose_name": "tags, copied"},
            ),
        ),
        (MirrorArrayField("tags"), ("django_pareto.denorm.MirrorArrayField", ["tags"], {})),
    ],
)
def test_fields_deconstruct_to_their_declaration(field: Any, expected: tuple[Any, ...]) -> None:
    _name, path, args, kwargs = field.deconstruct()
    assert (path, args, kwargs) == expected
    module, _, cls = path.rpartition(".")
    again = getattr(importlib.import_module(module), cls)(*args, **kwargs)
    assert again.deconstruct()[1:] == (path, args, kwargs)
    assert (again.editable, again.blank, again.get_default()) == (False, True, [])


def test_bound_fields_deconstruct_the_same() -> None:
    """A field on its model (element type resolved) equals the one in the migration."""
    field = PgArticle._meta.get_field("tag_pks")
    assert field.base_field.__class__ is models.BigIntegerField  # type: ignore[attr-defined]
    assert field.deconstruct()[1:] == ("django_pareto.denorm.MirrorArrayField", ["tags"], {})
    explicit = MirrorArrayField("tags", base_field=models.IntegerField())
    assert explicit.deconstruct()[3]["base_field"].__class__ is models.IntegerField


def test_migration_writer_serializes_the_fields_and_the_operation() -> None:
    text, imports = MigrationWriter.serialize(MirrorField("tags", fields=["name"]))
    assert text == "django_pareto.denorm.MirrorField('tags', fields=['name'])"
    assert imports == {"import django_pareto.denorm"}
    text, imports = MigrationWriter.serialize(BackfillMirror(model_name="article", name="tag_ids"))
    assert "django_pareto.denorm.operations.BackfillMirror(" in text
    assert "model_name='article'" in text and "name='tag_ids'" in text
    assert imports == {"import django_pareto.denorm.operations"}
    op = BackfillMirror("article", "tag_ids", batch_size=50)
    assert op.deconstruct() == (
        "BackfillMirror",
        [],
        {"model_name": "article", "name": "tag_ids", "batch_size": 50},
    )
    assert op.describe() == "Fill the mirrored field tag_ids of article"
    assert op.migration_name_fragment == "backfill_article_tag_ids"


def test_backfill_operation_against_the_migration_state(alias: str) -> None:
    articles = [Article.objects.using(alias).create(title=f"a{i}") for i in range(5)]
    tags = [
        articles[0].tags.model.objects.using(alias).create(name=f"t{i}", slug="s") for i in range(3)
    ]
    for i, article in enumerate(articles):
        article.tags.set(tags[:i])
    Article.objects.using(alias).update(tag_ids=[], tag_info=[])

    state = MigrationLoader(connections[alias]).project_state(("denorm_app", "0001_initial"))
    with connections[alias].schema_editor() as editor:
        for name in ("tag_ids", "tag_info"):
            op = BackfillMirror(model_name="article", name=name, batch_size=2)
            op.database_forwards("denorm_app", editor, state, state)
            op.database_backwards("denorm_app", editor, state, state)  # nothing to undo
        with pytest.raises(ValueError, match="not a MirrorField"):
            BackfillMirror("article", "title").database_forwards("denorm_app", editor, state, state)
    assert_in_sync(alias)


# -- a throwaway app, migrated for real ----------------------------------------------------

APP = "pareto_denormapp"

MODELS = """
from django.db import models

from django_pareto.denorm import MirrorField


class Label(models.Model):
    name = models.CharField(max_length=30)


class Post(models.Model):
    title = models.CharField(max_length=50)
    labels = models.ManyToManyField(Label, related_name="posts")
    label_ids = MirrorField("labels")
    label_info = MirrorField("labels", fields=["name"])
"""

INITIAL = """
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Label",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=30)),
            ],
        ),
        migrations.CreateModel(
            name="Post",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("title", models.CharField(max_length=50)),
                ("labels", models.ManyToManyField(related_name="posts", to="pareto_denormapp.label")),
            ],
        ),
    ]
"""


def mirrors_migration() -> str:
    """0002 as the migration generator writes it: AddField, then BackfillMirror."""
    migration = migrations.Migration("0002_mirrors", APP)
    migration.dependencies = [(APP, "0001_initial")]
    migration.operations = []
    for name, field in (
        ("label_ids", MirrorField("labels")),
        ("label_info", MirrorField("labels", fields=["name"])),
    ):
        migration.operations += [
            migrations.AddField(model_name="post", name=name, field=field),
            BackfillMirror(model_name="post", name=name),
        ]
    return MigrationWriter(migration).as_string()


@pytest.fixture
def throwaway_app(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / APP
    (root / "migrations").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "migrations" / "__init__.py").write_text("")
    (root / "models.py").write_text(textwrap.dedent(MODELS))
    (root / "migrations" / "0001_initial.py").write_text(textwrap.dedent(INITIAL))
    (root / "migrations" / "0002_mirrors.py").write_text(mirrors_migration())
    sys.path.insert(0, str(tmp_path))
    try:
        with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, APP]):
            yield root
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == APP or m.startswith(APP + ".")]:
            del sys.modules[name]
        apps.all_models.pop(APP, None)
        apps.clear_cache()


def test_backfill_mirror_in_a_migration_fills_existing_rows(
    alias: str, throwaway_app: Path
) -> None:
    call_command("migrate", APP, "0001", database=alias, verbosity=0)
    try:
        old = MigrationLoader(connections[alias]).project_state((APP, "0001_initial")).apps
        Label, Post = old.get_model(APP, "Label"), old.get_model(APP, "Post")
        labels = [Label.objects.using(alias).create(name=f"l{i}") for i in range(3)]
        posts = [Post.objects.using(alias).create(title=f"p{i}") for i in range(4)]
        Post.labels.through.objects.using(alias).bulk_create(
            Post.labels.through(post_id=p.pk, label_id=lab.pk)
            for i, p in enumerate(posts)
            for lab in labels[:i]
        )
        call_command("migrate", APP, database=alias, verbosity=0)

        current = apps.get_model(APP, "Post")
        rows = {p.pk: (p.label_ids, p.label_info) for p in current.objects.using(alias)}
        names = {lab.pk: lab.name for lab in labels}
        for i, post in enumerate(posts):
            pks = sorted(lab.pk for lab in labels[:i])
            assert rows[post.pk] == (pks, [{"id": pk, "name": names[pk]} for pk in pks])
        call_command("makemigrations", APP, check=True, dry_run=True, verbosity=0)
    finally:
        call_command("migrate", APP, "zero", database=alias, verbosity=0)
