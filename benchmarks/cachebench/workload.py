"""Worker-side workload pieces shared by the benchmarks: write paths, published versions,
django-cachalot's 12 benchmark queries.

Versions. Every row carries a ``version`` that only grows. A writer owns its rows (no
other process writes them), so it knows each row's current version without reading it
through a cache, and can write ``version + 1`` by any write path. After the write has
committed and the ORM call (or ``atomic()`` block) has returned, i.e. after the cache's
own invalidation has run, it publishes the version in a Redis hash that no cache sees.
A reader reads the published versions first and then the rows through the ORM: a row
older than its published version is a stale read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# The ways a Django site writes a row, each taken in turn:
#   save         obj = Model.objects.get(pk=...); obj.version = v; obj.save()
#   update       Model.objects.filter(pk=...).update(version=v)
#   bulk_update  Model.objects.bulk_update([Model(pk=..., version=v), ...], ["version"])
#   raw          connection.cursor().execute("UPDATE ... SET version = %s WHERE id = %s")
WRITE_PATHS = ("save", "update", "bulk_update", "raw")
PATH_LETTER = {"save": "s", "update": "u", "bulk_update": "b", "raw": "r"}
LETTER_PATH = {v: k for k, v in PATH_LETTER.items()}
ROWS_PER_WRITE = {"save": 1, "update": 1, "bulk_update": 2, "raw": 1}


def write(model: Any, path: str, versions: Mapping[int, int]) -> None:
    """Set ``version`` of the rows ``versions`` maps (pk -> new version) through ``path``."""
    from django.db import connection

    if path == "save":
        for pk, v in versions.items():
            obj = model.objects.get(pk=pk)  # read through the cache, like a site does
            obj.version = v
            obj.save()
    elif path == "update":
        for pk, v in versions.items():
            model.objects.filter(pk=pk).update(version=v)
    elif path == "bulk_update":
        model.objects.bulk_update(
            [model(pk=pk, version=v) for pk, v in versions.items()], ["version"]
        )
    elif path == "raw":
        table = connection.ops.quote_name(model._meta.db_table)
        with connection.cursor() as cursor:
            for pk, v in versions.items():
                cursor.execute(f"UPDATE {table} SET version = %s WHERE id = %s", [v, pk])
    else:
        raise ValueError(path)


class Publisher:
    """The writer's side of the published versions: a Redis hash pk -> "version:time"."""

    def __init__(self, url: str, key: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.key = key

    def publish(self, versions: Mapping[int, int]) -> None:
        now = time.time()
        self.client.hset(self.key, mapping={pk: f"{v}:{now:.6f}" for pk, v in versions.items()})


class Published:
    """The reader's side: the versions published so far (0 for a row never written)."""

    def __init__(self, url: str, key: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.key = key

    def some(self, pks: Iterable[int]) -> dict[int, int]:
        pks = list(pks)
        values = self.client.hmget(self.key, pks)
        return {pk: _version(v) for pk, v in zip(pks, values, strict=True)}

    def all(self) -> dict[int, int]:
        return {int(k): _version(v) for k, v in self.client.hgetall(self.key).items()}


def _version(value: bytes | str | None) -> int:
    if not value:
        return 0
    text = value.decode() if isinstance(value, bytes) else value
    return int(text.split(":", 1)[0])


def stale_rows(read: Mapping[int, int], expected: Mapping[int, int]) -> list[tuple[int, int, int]]:
    """(pk, version read, version published) of each row read older than published.

    A row published but missing from the result is stale too (version read -1): rows are
    never deleted."""
    out = []
    for pk, want in expected.items():
        got = read.get(pk, -1)
        if got < want:
            out.append((pk, got, want))
    return out


def owned(pks: Iterable[int], index: int, of: int) -> list[int]:
    """The rows writer ``index`` of ``of`` writes: no two writers write the same row."""
    return [pk for pk in pks if pk % of == index]


# --------------------------------------------------------------------------- cachalot's queries

# django-cachalot's benchmark.py: each is ``Test.objects.using(alias)`` + the suffix, in a
# list() unless it is count()/first(); the prefetches run 3 queries, the others 1.
CACHALOT_QUERIES: tuple[tuple[str, bool, int], ...] = (
    (".count()", False, 1),
    (".first()", False, 1),
    ("[:10]", True, 1),
    ("[5000:5010]", True, 1),
    (".filter(name__icontains='e')[0:10]", True, 1),
    (".filter(name__icontains='e')[5000:5010]", True, 1),
    (".order_by('owner')[0:10]", True, 1),
    (".order_by('owner')[5000:5010]", True, 1),
    (".select_related('owner')[0:10]", True, 1),
    (".select_related('owner')[5000:5010]", True, 1),
    (".prefetch_related('owner__groups')[0:10]", True, 3),
    (".prefetch_related('owner__groups')[5000:5010]", True, 3),
)


def cachalot_query(suffix: str, to_list: bool) -> Callable[[], Any]:
    """The query as a function, built like cachalot's benchmark builds it (eval of the
    suffix: the 12 suffixes are constants of this module)."""
    from cachebench.models import Test

    expression = "Test.objects.using('default')" + suffix
    if to_list:
        expression = f"list({expression})"
    function: Callable[[], Any] = eval(f"lambda: {expression}", {"Test": Test})
    return function


def seed_cachalot_data(rows: int = 10_000, seed: int = 0) -> None:
    """cachalot's create_data(): 50 users, 10 groups, each user in 2 random groups,
    ``rows`` Test rows named test0.. with a random owner."""
    import random

    from django.contrib.auth.models import Group, User

    from cachebench.models import Test

    rng = random.Random(seed)
    User.objects.bulk_create([User(username=f"user{i}") for i in range(50)])
    Group.objects.bulk_create([Group(name=f"test{i}") for i in range(10)])
    groups = list(Group.objects.all())
    for user in User.objects.all():
        user.groups.add(rng.choice(groups), rng.choice(groups))
    users = list(User.objects.all())
    Test.objects.bulk_create(
        [Test(name=f"test{i}", owner=rng.choice(users)) for i in range(rows)], batch_size=2000
    )
