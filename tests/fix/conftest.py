"""Throwaway apps written to a temporary folder for each test, installed only meanwhile.

Their models.py is the state *after* the printed hints are applied (in ``fixapp`` two new
indexes in Meta.indexes, one removed; in ``partialapp`` the partial index the analyzer
advises); their only migration is the state before. So makemigrations sees drift until the
generated migration is written, and none after.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.test import override_settings

APP = "pareto_fixapp"

MODELS = """
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper


class Article(models.Model):
    title = models.CharField(max_length=200)
    published_at = models.DateTimeField()
    is_featured = models.BooleanField(default=False)
    code = models.CharField(max_length=20)

    class Meta:
        indexes = [
            models.Index(fields=["-published_at"], name="fixapp_featured_pub_idx", condition=Q(is_featured=True)),
            models.Index(Upper("title"), name="fixapp_upper_title_idx"),
        ]
"""

INITIAL = """
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Article",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("title", models.CharField(max_length=200)),
                ("published_at", models.DateTimeField()),
                ("is_featured", models.BooleanField(default=False)),
                ("code", models.CharField(max_length=20)),
            ],
            options={
                "indexes": [models.Index(fields=["code"], name="fixapp_code_idx")],
            },
        ),
    ]
"""


# The state after `pareto fix` for a partial index the analyzer advises itself (see
# test_migrations.test_advised_partial_index_*): the open tasks, oldest first. The index name
# is the analyzer's stable one, so a change to how it names indexes shows here as drift.
PARTIAL_APP = "pareto_partialapp"

PARTIAL_MODELS = """
from django.db import models
from django.db.models import Q


class Task(models.Model):
    title = models.CharField(max_length=200)
    created_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["created_at"], name="pareto_part_created_b95866_idx", condition=Q(done_at__isnull=True)),
        ]
"""

PARTIAL_INITIAL = """
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Task",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("title", models.CharField(max_length=200)),
                ("created_at", models.DateTimeField()),
                ("done_at", models.DateTimeField(null=True)),
            ],
        ),
    ]
"""


def throwaway_app(tmp_path: Path, app: str, models: str, initial: str) -> Iterator[Path]:
    """Write the app, install it for the duration of the test, and forget it after."""
    root = tmp_path / app
    (root / "migrations").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "migrations" / "__init__.py").write_text("")
    (root / "models.py").write_text(textwrap.dedent(models))
    (root / "migrations" / "0001_initial.py").write_text(textwrap.dedent(initial))
    sys.path.insert(0, str(tmp_path))
    try:
        with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, app]):
            yield root
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == app or m.startswith(app + ".")]:
            del sys.modules[name]
        # Else the next test's fresh module would re-register the model (a warning).
        apps.all_models.pop(app, None)
        apps.clear_cache()


@pytest.fixture
def fixapp(tmp_path: Path) -> Iterator[Path]:
    """The app's folder; the app is in INSTALLED_APPS for the duration of the test."""
    yield from throwaway_app(tmp_path, APP, MODELS, INITIAL)


@pytest.fixture
def partialapp(tmp_path: Path) -> Iterator[Path]:
    """A task list whose open tasks (a few percent) want a partial index."""
    yield from throwaway_app(tmp_path, PARTIAL_APP, PARTIAL_MODELS, PARTIAL_INITIAL)


# A many-to-many relation that pareto.D001 advises copying (tests/fix/test_mirrors.py):
# before the fix, the relation alone; after it, the copy, and on PostgreSQL its GinIndex.
MIRROR_APP = "pareto_mirrorapp"

MIRROR_MODELS = """
from django.db import models


class Tag(models.Model):
    name = models.CharField(max_length=50)
    slug = models.SlugField(max_length=60)


class Article(models.Model):
    title = models.CharField(max_length=200)
    tags = models.ManyToManyField(Tag, related_name="articles")
"""

MIRROR_FIXED = {
    "sqlite": MIRROR_MODELS.rstrip()
    + """
    tag_info = MirrorField("tags", fields=["name", "slug"])
""",
    "postgresql": MIRROR_MODELS.rstrip()
    + """
    tag_info = MirrorField("tags", fields=["name", "slug"])

    class Meta:
        indexes = [
            GinIndex(fields=["tag_info"], name="pareto_mirr_tag_inf_9f1c2e_idx", opclasses=["jsonb_path_ops"]),
        ]
""",
}
MIRROR_IMPORTS = {
    "sqlite": "from django_pareto.denorm import MirrorField\n",
    "postgresql": (
        "from django.contrib.postgres.indexes import GinIndex\n"
        "from django_pareto.denorm import MirrorField\n"
    ),
}

MIRROR_INITIAL = """
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Tag",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=50)),
                ("slug", models.SlugField(max_length=60)),
            ],
        ),
        migrations.CreateModel(
            name="Article",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("title", models.CharField(max_length=200)),
                ("tags", models.ManyToManyField(related_name="articles", to="pareto_mirrorapp.tag")),
            ],
        ),
    ]
"""


@pytest.fixture
def mirrorapp(tmp_path: Path) -> Iterator[Path]:
    """The app before the fix: the analysis and the plan see the relation alone."""
    yield from throwaway_app(tmp_path, MIRROR_APP, MIRROR_MODELS, MIRROR_INITIAL)


def mirrorapp_fixed(tmp_path: Path, vendor: str) -> Iterator[Path]:
    """The app with the hints applied (needs the runtime: its models import MirrorField)."""
    models = MIRROR_IMPORTS[vendor] + MIRROR_FIXED[vendor]
    yield from throwaway_app(tmp_path, MIRROR_APP, models, MIRROR_INITIAL)
