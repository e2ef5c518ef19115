"""Rows for the partial-index tests, on any database alias (runs are recorded with
``tests.index_app.scenario.record``: the SQL Django really executed on that alias)."""

from __future__ import annotations

import datetime as dt

from tests.partial_app.models import Desk, Job, Story

STORIES = 8_000
JOBS = 8_000
DESKS = 8
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def fill(using: str) -> None:
    Desk.objects.using(using).bulk_create(
        Desk(name=f"desk-{i}", closed_at=None if i == 3 else START) for i in range(DESKS)
    )
    Story.objects.using(using).bulk_create(
        Story(
            desk=f"desk-{i % 20}",
            headline=f"Headline {i}",
            is_featured=i % 100 == 7,  # 80 of 8,000
            is_deleted=i % 100 == 11,
            published_at=START + dt.timedelta(minutes=i),
            # Spread over the whole table, not only the newest rows.
            reviewed_at=None if i % 50 == 3 else START + dt.timedelta(minutes=i + 30),
        )
        for i in range(STORIES)
    )
    Job.objects.using(using).bulk_create(
        Job(
            name=f"job-{i}",
            created_at=START + dt.timedelta(seconds=i),
            failed_at=START if i % 200 == 42 else None,  # 40 of 8,000
            archived_at=None if i % 100 < 3 else START,
            paused_at=START if i % 100 == 61 else None,
        )
        for i in range(JOBS)
    )
