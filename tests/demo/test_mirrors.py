"""pareto.D001's fix applied to the demo: the copies `pareto fix` writes are declared,
migrated, read by the list pages instead of the relation, and kept in sync by writes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from blog.mirrors import added_by

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "demo"
GOLDEN = ROOT / "tests" / "fix" / "golden" / "mirror_sqlite.py"


def migration(name: str, relation: str, fields: str | None) -> str:
    """The migration `pareto fix` writes for a copy on the demo's Article (the golden file
    of tests/fix, moved to the blog app)."""
    text = GOLDEN.read_text().replace("pareto_mirrorapp", "blog")
    text = text.replace("'tag_info'", f"'{name}'")
    field = f"MirrorField('{relation}'" + (f", fields={fields})" if fields else ")")
    return text.replace("MirrorField('tags', fields=['name', 'slug'])", field)


TAG_INFO = migration("tag_info", "tags", "['name', 'slug']")
FAVORITED_BY_IDS = migration("favorited_by_ids", "favorited_by", None)


def test_the_demo_knows_the_copies_pareto_fix_writes() -> None:
    assert added_by(TAG_INFO) == {"tag_info"}
    assert added_by(FAVORITED_BY_IDS) == {"favorited_by_ids"}
    # Advice the demo's views don't know how to read is left alone.
    assert added_by(migration("tag_info", "tags", "['name']")) == set()
    assert added_by(migration("tag_ids", "tags", None)) == set()
    assert added_by(TAG_INFO.replace("model_name='article'", "model_name='tag'")) == set()


SCRIPT = textwrap.dedent(
    """
    import django
    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django_pareto.denorm import mirrors
    from blog.models import Article

    assert {f.name for f in Article._meta.fields} >= {"tag_info", "favorited_by_ids"}
    user = get_user_model().objects.get(username="demo")
    client = Client()
    client.force_login(user)
    with CaptureQueriesContext(connection) as ran:
        page = client.get("/").content.decode()
        api = client.get("/api/articles/?limit=50").json()["articles"]
    # No read of an article's tags or fans through the through tables (the sidebar's
    # popular tags still aggregates over all of them: not a read per article).
    per_article = [
        q["sql"] for q in ran
        if ('"blog_article_tags"."article_id"' in q["sql"]
            or '"blog_article_favorited_by"."article_id"' in q["sql"])
        and "GROUP BY" not in q["sql"]
    ]
    assert not per_article, per_article
    for row in api:
        article = Article.objects.get(slug=row["slug"])
        assert row["tagList"] == [t.name for t in article.tags.order_by("pk")], row
        assert row["favoritesCount"] == article.favorited_by.count(), row
    first = Article.objects.filter(is_published=True).order_by("-published_at")[0]
    for tag in first.tags.all():
        assert tag.name in page
    before = first.favorited_by.count()
    toggled = client.post(f"/article/{first.slug}/favorite/", HTTP_ACCEPT="application/json")
    count = toggled.json()["favoritesCount"]
    assert count == first.favorited_by.count() != before
    first.refresh_from_db()
    assert len(first.favorited_by_ids) == count
    assert {m.name for m in mirrors()} >= {"tag_info", "favorited_by_ids"}
    assert not any(m.drift() for m in mirrors() if m.model is Article)
    print("MIRRORS-OK")
    """
)


MIGRATIONS = DEMO / "blog" / "migrations"


def test_the_fixed_demo_reads_the_copies_and_keeps_them_in_sync(tmp_path: Path) -> None:
    if list(MIGRATIONS.glob("*_pareto_*.py")):
        pytest.skip("pareto fix migrations are in demo/blog/migrations (a demo run is going on)")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "demosite.settings",
        "PARETO_STORE": str(tmp_path / "store.sqlite3"),
        "PYTHONPATH": str(DEMO),
    }

    def run(*args: str, fixed: bool = False) -> str:
        done = subprocess.run(
            [sys.executable, *args], cwd=DEMO, capture_output=True, text=True, timeout=600,
            env={**env, "DEMO_FIXED": "1"} if fixed else env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    run("manage.py", "migrate", "--verbosity", "0")
    run("manage.py", "seed", "--scale", "0.05", "--seed", "7")
    written = [
        MIGRATIONS / "0002_pareto_test_tag_info.py",
        MIGRATIONS / "0003_pareto_test_favorited_by_ids.py",
    ]
    try:
        written[0].write_text(TAG_INFO)
        written[1].write_text(
            FAVORITED_BY_IDS.replace("'0001_initial'", "'0002_pareto_test_tag_info'")
        )
        # The copies come to existing rows: their migration backfills them.
        run("manage.py", "migrate", "--verbosity", "0", fixed=True)
        assert "MIRRORS-OK" in run("-c", SCRIPT, fixed=True)
    finally:
        for path in written:
            path.unlink(missing_ok=True)
