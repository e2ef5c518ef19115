"""``pareto denorm check`` finds the drift that writes bypassing signals leave, and
``--repair`` fixes it; ``pareto denorm backfill`` fills mirrors, resumably. Through
``manage.py pareto`` (call_command) and the click CLI."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from django.core.management import call_command
from django.db import connections

from django_pareto.cli.main import cli
from django_pareto.denorm import maintenance
from tests.denorm_app.models import Article, Reader, Reading, Tag

from .conftest import ALIASES, assert_in_sync

pytestmark = pytest.mark.django_db(databases=ALIASES, transaction=True)


def seed(alias: str, n: int = 6) -> tuple[list[Article], list[Tag]]:
    articles = [Article.objects.using(alias).create(title=f"a{i}") for i in range(n)]
    tags = [Tag.objects.using(alias).create(name=f"t{i}", slug=f"t-{i}") for i in range(3)]
    for i, article in enumerate(articles):
        article.tags.set(tags[: i % 4])
    return articles, tags


def pareto(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run ``manage.py pareto ...``: its exit status and output."""
    try:
        call_command("pareto", *args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


def raw(alias: str, sql: str, params: list[Any] | None = None) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)


BYPASSES: dict[str, tuple[Callable[[str, list[Article], list[Tag]], None], str]] = {
    "bulk_create of through rows": (
        lambda a, arts, tags: Article.tags.through.objects.using(a).bulk_create(
            [Article.tags.through(article=arts[0], tag=tags[2])]
        ),
        "denorm_app.Article.tag_ids",
    ),
    "QuerySet.update of a mirrored attribute": (
        lambda a, arts, tags: Tag.objects.using(a).filter(pk=tags[0].pk).update(name="x"),
        "denorm_app.Article.tag_info",
    ),
    "QuerySet.update of the copy itself": (
        lambda a, arts, tags: Article.objects.using(a).filter(pk=arts[2].pk).update(tag_ids=[]),
        "denorm_app.Article.tag_ids",
    ),
    "raw SQL DELETE of through rows": (
        lambda a, arts, tags: raw(
            a, "DELETE FROM denorm_app_article_tags WHERE tag_id = %s", [tags[1].pk]
        ),
        "denorm_app.Tag.article_ids",
    ),
    "bulk_create of explicit through rows": (
        lambda a, arts, tags: Reading.objects.using(a).bulk_create(
            [Reading(article=arts[1], reader=Reader.objects.using(a).create(name="r"))]
        ),
        "denorm_app.Reader.article_ids",
    ),
}


@pytest.mark.parametrize("bypass", list(BYPASSES))
def test_check_finds_drift_and_repair_fixes_it(
    bypass: str, alias: str, capsys: pytest.CaptureFixture[str]
) -> None:
    articles, tags = seed(alias)
    write, drifted_mirror = BYPASSES[bypass]
    code, out = pareto(capsys, "denorm", "check", "--database", alias)
    assert code == 0 and "drifted" not in out, out

    write(alias, articles, tags)
    code, out = pareto(capsys, "denorm", "check", "--database", alias)
    assert code == 1, out
    assert f"{drifted_mirror}: " in out and "rows drifted" in out
    assert "pareto denorm check --repair" in out

    code, out = pareto(capsys, "denorm", "check", "--repair", "--database", alias)
    assert code == 0, out
    assert "repaired" in out
    assert_in_sync(alias)
    code, out = pareto(capsys, "denorm", "check", "--database", alias)
    assert code == 0 and "drifted" not in out, out


def test_check_through_the_python_api(alias: str) -> None:
    articles, _ = seed(alias)
    Article.objects.using(alias).filter(pk__in=[a.pk for a in articles[:2]]).update(
        tag_info=[{"id": 0}]
    )
    [mirror] = maintenance.select(["denorm_app.Article.tag_info"])
    report = maintenance.check(mirror, using=alias)
    assert (report.rows, sorted(report.drifted), report.repaired) == (
        len(articles),
        sorted(a.pk for a in articles[:2]),
        0,
    )
    assert mirror.drift(using=alias) == report.drifted
    assert maintenance.check(mirror, using=alias, repair=True).repaired == 2
    assert mirror.drift(using=alias) == []


def test_check_one_model_and_unknown_names(alias: str, capsys: pytest.CaptureFixture[str]) -> None:
    seed(alias)
    Article.objects.using(alias).update(tag_ids=[])
    code, out = pareto(capsys, "denorm", "check", "--model", "denorm_app.Tag", "--database", alias)
    assert code == 0 and "denorm_app.Article" not in out, out
    code, out = pareto(
        capsys, "denorm", "check", "--model", "denorm_app.Article.tag_ids", "--database", alias
    )
    assert code == 1 and "denorm_app.Article.tag_ids" in out and "tag_info" not in out
    for wrong in ("denorm_app.Nope", "denorm_app.Article.title", "denorm_app"):
        result = CliRunner().invoke(
            cli, ["denorm", "check", "--model", wrong], obj={"django_ready": True}
        )
        assert result.exit_code == 2 and "--model" in result.output, result.output


def test_backfill_fills_every_row_in_batches(
    alias: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(alias, n=7)
    Article.objects.using(alias).update(tag_ids=[], tag_info=[])
    code, out = pareto(
        capsys, "denorm", "backfill", "--model", "denorm_app.Article", "--batch-size", "3",
        "--no-progress", "--database", alias,
    )  # fmt: skip
    assert code == 0, out
    assert "denorm_app.Article.tag_ids: 7 rows visited, 5 written" in out  # 2 have no tags
    assert "denorm_app.Article.tag_info: 7 rows visited, 5 written" in out
    assert_in_sync(alias)
    code, out = pareto(
        capsys, "denorm", "backfill", "--model", "denorm_app.Article.tag_ids", "--no-progress",
        "--database", alias,
    )  # fmt: skip
    assert "7 rows visited, 0 written" in out, "filled already: nothing to write"


def test_backfill_resumes_with_the_rows_still_empty(alias: str) -> None:
    articles, _ = seed(alias, n=8)
    Article.objects.using(alias).update(tag_ids=[])
    [mirror] = maintenance.select(["denorm_app.Article.tag_ids"])

    class Interrupted(Exception):
        pass

    def interrupt(rows: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        maintenance.backfill(mirror, using=alias, batch_size=4, on_rows=interrupt)
    first = Article.objects.using(alias).order_by("pk")[:4]
    assert [a.tag_ids for a in first] == [sorted(t.pk for t in a.tags.all()) for a in first]
    still_empty = Article.objects.using(alias).filter(tag_ids=[]).count()
    result = maintenance.backfill(mirror, using=alias, batch_size=4, resume=True)
    assert result.rows == still_empty < len(articles)
    assert_in_sync(alias)


def test_backfill_with_a_progress_bar(alias: str) -> None:
    seed(alias)
    result = CliRunner().invoke(
        cli,
        ["denorm", "backfill", "--model", "denorm_app.Tag", "--database", alias],
        obj={"django_ready": True},
    )
    assert result.exit_code == 0, result.output
    assert "denorm_app.Tag.article_ids: 3 rows visited, 0 written" in result.output


def test_mirrors_of_another_database_are_skipped(capsys: pytest.CaptureFixture[str]) -> None:
    """PgArticle is for PostgreSQL only: never checked or filled on SQLite."""
    code, out = pareto(capsys, "denorm", "check", "--database", "default")
    assert code == 0 and "PgArticle" not in out
    code, out = pareto(
        capsys, "denorm", "backfill", "--model", "denorm_app.PgArticle", "--no-progress",
        "--database", "default",
    )  # fmt: skip
    assert code == 0 and "denorm_app.PgArticle.tag_pks: not on database default, skipped." in out
