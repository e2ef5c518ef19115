"""Two races between writers, played in a fixed order with two PostgreSQL connections:
the order is forced with events and by waiting until one writer is blocked on a lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections, transaction
from django.db.models.signals import m2m_changed

from tests.denorm_app.models import PgArticle, PgTag

from .conftest import assert_in_sync

pytestmark = pytest.mark.django_db(databases=["default", "postgres"], transaction=True)

DB = "postgres"


class Writer(threading.Thread):
    """A writer on a connection of its own; its exception, if any, is raised by join()."""

    def __init__(self, work: Callable[[], Any]) -> None:
        super().__init__()
        self.work, self.error = work, None

    def run(self) -> None:
        try:
            self.work()
        except BaseException as exc:
            self.error = exc  # type: ignore[assignment]
        finally:
            connections[DB].close()

    def join(self, timeout: float | None = 10) -> None:
        super().join(timeout)
        assert not self.is_alive(), "the writer is stuck"
        if self.error is not None:
            raise self.error


def finished_or_blocked(writer: Writer, timeout: float = 10) -> str:
    """Wait until ``writer`` is done or waits for a row lock held by another writer."""
    deadline = time.monotonic() + timeout
    with connections[DB].cursor() as cursor:
        while time.monotonic() < deadline:
            if not writer.is_alive():
                return "finished"
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return "blocked"
            time.sleep(0.01)
    raise AssertionError("the writer neither finished nor blocked")


def test_a_rename_waits_for_a_recompute_that_read_the_old_value(postgres_alias: str) -> None:
    """A link is added and its parent recomputed with the tag's old name; the tag is renamed
    (autocommit) before that link commits. Without a lock the rename finds no parent to
    rewrite (the link isn't committed) and the old name stays. The recompute holds the tag
    FOR KEY SHARE, so the rename waits for it, then finds the link."""
    article = PgArticle.objects.using(DB).create(title="a")
    tag = PgTag.objects.using(DB).create(name="old")
    recomputed, go = threading.Event(), threading.Event()

    def add_link() -> None:
        with transaction.atomic(using=DB):
            PgArticle.objects.using(DB).get(pk=article.pk).tags.add(tag)
            recomputed.set()
            go.wait(10)

    def rename() -> None:
        renamed = PgTag.objects.using(DB).get(pk=tag.pk)
        renamed.name = "new"
        renamed.save()

    adder = Writer(add_link)
    adder.start()
    assert recomputed.wait(10)
    renamer = Writer(rename)
    renamer.start()
    assert finished_or_blocked(renamer) == "blocked"
    go.set()
    adder.join()
    renamer.join()
    assert PgArticle.objects.using(DB).get(pk=article.pk).tag_info == [
        {"id": tag.pk, "name": "new"}
    ]
    assert_in_sync(DB)


def test_a_clear_from_the_related_side_finds_links_committed_after_it_looked(
    postgres_alias: str,
) -> None:
    """A clear looks its tag's parents up (pre_clear), then deletes the tag's links by the
    tag column: a link committed in between is deleted too, its parent unknown. The clear
    finds that parent afterwards by its copy (``has``), which names the tag.

    The gap is widened with a pre_clear receiver of the test's own, which runs after the
    app's and waits until the other writer has committed its link."""
    article = PgArticle.objects.using(DB).create(title="a")
    tag = PgTag.objects.using(DB).create(name="t")
    through = PgArticle.tags.through
    looked, committed = threading.Event(), threading.Event()

    def pause(action: str, **kwargs: Any) -> None:
        if action == "pre_clear":
            looked.set()
            assert committed.wait(10)

    def add_link() -> None:
        assert looked.wait(10)
        PgArticle.objects.using(DB).get(pk=article.pk).tags.add(tag)
        committed.set()

    m2m_changed.connect(pause, sender=through, dispatch_uid="test_race_pause")
    try:
        adder = Writer(add_link)
        adder.start()
        PgTag.objects.using(DB).get(pk=tag.pk).articles.clear()
        adder.join()
    finally:
        m2m_changed.disconnect(sender=through, dispatch_uid="test_race_pause")
    assert not through.objects.using(DB).exists(), "the clear deleted the new link"
    assert PgArticle.objects.using(DB).get(pk=article.pk).tag_pks == []
    assert_in_sync(DB)
