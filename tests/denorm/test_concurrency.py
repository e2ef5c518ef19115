"""Writers changing the same relation at once, each thread with its own PostgreSQL
connection, leave no drift: a writer locks the parents it touches before it changes the
relation, so the last one to recompute a parent sees every commit before it.

A recompute repairs whatever came before it, so drift would only show after the last
writes to a parent: the threads run in rounds, and every mirror is checked after each.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import IntegrityError, OperationalError, connections, transaction

from django_pareto.denorm import mirrors
from tests.denorm_app.models import Article, Reader, Reading, Tag

from .conftest import assert_in_sync

pytestmark = pytest.mark.django_db(databases=["default", "postgres"], transaction=True)

DB = "postgres"
THREADS = 4
ROUNDS = 25
STEPS = 6  # per thread and round: 600 changes in all

Step = Callable[[random.Random, Counter[str]], None]


def run_rounds(step: Step, check: Callable[[], None]) -> Counter[str]:
    """Run ``step`` STEPS times per thread and round, all threads at once, and ``check``
    between rounds, when no write is in flight."""
    start, done = threading.Barrier(THREADS + 1), threading.Barrier(THREADS + 1)
    counts: list[Counter[str]] = []
    errors: list[BaseException] = []

    def thread(seed: int) -> None:
        rng, mine = random.Random(seed), Counter[str]()
        counts.append(mine)
        try:
            for _ in range(ROUNDS):
                start.wait()
                for _ in range(STEPS):
                    step(rng, mine)
                done.wait()
        except threading.BrokenBarrierError:
            pass
        except BaseException as exc:
            errors.append(exc)
            start.abort()
            done.abort()
        finally:
            connections[DB].close()  # this thread's own connection

    threads = [threading.Thread(target=thread, args=(seed,)) for seed in range(THREADS)]
    for t in threads:
        t.start()
    try:
        for _ in range(ROUNDS):
            start.wait()
            done.wait()
            check()
    except threading.BrokenBarrierError:
        pass
    finally:
        start.abort()
        done.abort()
        for t in threads:
            t.join()
    assert not errors, [repr(e) for e in errors]
    return sum(counts, Counter())


def attempt(counts: Counter[str], change: Callable[[], Any]) -> None:
    """Run a change in its own transaction. A write that fails rolls back with its copy:
    a deadlock (PostgreSQL aborts one of the writers), or a link to a tag another thread
    deleted meanwhile (a foreign key error, as without mirrors). Both are counted."""
    try:
        with transaction.atomic(using=DB):
            change()
            # The rest of a request's transaction (ATOMIC_REQUESTS): the change stays
            # uncommitted a moment, as in production, which is when writers overlap.
            with connections[DB].cursor() as cursor:
                cursor.execute("SELECT pg_sleep(0.001)")
        counts["committed"] += 1
    except OperationalError as exc:
        if "deadlock" not in str(exc):
            raise
        counts["deadlocks"] += 1
    except IntegrityError:
        counts["deleted meanwhile"] += 1


def no_drift(*models: type[Any]) -> None:
    assert_in_sync(DB)
    assert {m.label: m.drift(using=DB) for m in mirrors() if m.model in models} == {
        m.label: [] for m in mirrors() if m.model in models
    }


def test_concurrent_adds_and_removes_leave_no_drift(postgres_alias: str) -> None:
    articles = [Article.objects.using(DB).create(title=f"a{i}") for i in range(3)]
    tags = [Tag.objects.using(DB).create(name=f"t{i}", slug=f"t{i}") for i in range(3)]

    def step(rng: random.Random, counts: Counter[str]) -> None:
        article = Article.objects.using(DB).get(pk=rng.choice(articles).pk)
        tag = Tag.objects.using(DB).get(pk=rng.choice(tags).pk)
        change = rng.choice(
            [
                lambda: article.tags.add(tag),
                lambda: article.tags.remove(tag),
                lambda: tag.articles.add(*rng.sample(articles, 2)),
                lambda: tag.articles.remove(*rng.sample(articles, 2)),
            ]
        )
        attempt(counts, change)

    counts = run_rounds(step, lambda: no_drift(Article, Tag))
    assert counts["committed"] + counts["deadlocks"] == THREADS * ROUNDS * STEPS
    assert counts["deadlocks"] == 0, "parents are locked in one order: no deadlock"


def test_concurrent_changes_of_every_kind_leave_no_drift(postgres_alias: str) -> None:
    """Clears from the related side, renames of mirrored attributes, explicit through
    rows and related deletes, all at once."""
    articles = [Article.objects.using(DB).create(title=f"a{i}") for i in range(3)]
    readers = [Reader.objects.using(DB).create(name=f"r{i}") for i in range(3)]
    for i in range(3):
        Tag.objects.using(DB).create(name=f"t{i}", slug=f"t{i}")

    def step(rng: random.Random, counts: Counter[str]) -> None:
        tags = list(Tag.objects.using(DB).order_by("pk"))
        if len(tags) < 3:
            tags.append(Tag.objects.using(DB).create(name="new", slug="new"))
        tag = rng.choice(tags)
        article = Article.objects.using(DB).get(pk=rng.choice(articles).pk)
        reader = rng.choice(readers)

        def rename() -> None:
            tag.name = f"{tag.name[:20]}.{rng.randint(0, 9)}"
            tag.save()

        weighted: list[tuple[int, Callable[[], Any]]] = [
            (4, lambda: article.tags.add(tag)),
            (4, lambda: article.tags.remove(tag)),
            (2, lambda: tag.articles.add(*rng.sample(articles, 2))),
            (1, lambda: tag.articles.clear()),
            (1, rename),
            (2, lambda: Reading.objects.using(DB).create(article=article, reader=reader)),
            (1, lambda: Reading.objects.using(DB).filter(article=article).delete()),
            (2, lambda: article.readers.add(reader)),
            (1, lambda: Tag.objects.using(DB).filter(pk=tag.pk).delete()),
        ]
        [change] = rng.choices([c for _, c in weighted], weights=[w for w, _ in weighted])
        attempt(counts, change)

    counts = run_rounds(step, lambda: no_drift(Article, Tag, Reader))
    # Deletes and renames can deadlock with link changes of the same rows (they lock the
    # related row too, in the other order); PostgreSQL aborts one writer, which rolls back.
    assert counts["committed"] > THREADS * ROUNDS * STEPS * 0.9


def test_a_link_to_a_row_deleted_meanwhile_fails_at_once(postgres_alias: str) -> None:
    """Django checks foreign keys at commit: a link to a deleted tag would pass if another
    transaction re-inserted the tag's pk before then (save() of a stale instance does:
    its UPDATE finds no row, so Django INSERTs it), with a copy nobody recomputed."""
    article = Article.objects.using(DB).create(title="a")
    tag = Tag.objects.using(DB).create(name="t", slug="t")
    stale, also_stale = (Tag.objects.using(DB).get(pk=tag.pk) for _ in range(2))
    Tag.objects.using(DB).filter(pk=tag.pk).delete()

    def resurrect() -> None:
        try:
            also_stale.name = "back"
            also_stale.save()
        finally:
            connections[DB].close()  # this thread's own connection

    with pytest.raises(IntegrityError, match="does not exist"), transaction.atomic(using=DB):
        article.tags.add(stale)
        thread = threading.Thread(target=resurrect)  # commits while the link waits
        thread.start()
        thread.join()
    assert_in_sync(DB)
