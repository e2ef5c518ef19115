"""pareto.D001's fix on the demo site, on PostgreSQL: list reads and many-to-many writes,
before and after the copies, in one run.

Seeds the demo into a PostgreSQL database, records a short run of its workload, lets the
doctor advise (`pareto fix --only D001` writes the migration that adds and backfills the
copies it advises), and clones the database (`CREATE DATABASE ... TEMPLATE`) into an
"after" database migrated with that migration. Both sides run the demo's code fixes
(DEMO_FIXED=1: no N+1, the relations prefetched) and the doctor's index migrations
(`--only I001 --only X001`); "after" reads the copies instead of prefetching
(demo/blog/mirrors.py). Both databases are compacted and analyzed before measuring. Then,
alternating sides round by round, a worker process per side requests the list endpoints
through Django's test client as a signed-in reader (reads) and toggles favorites and
re-tags articles (writes, each undone by the next so both databases stay alike). Prints
time and queries per request per endpoint, the read speedup, and the cost per write.

    .venv/bin/python benchmarks/denorm.py                 # scale 3, about 4 minutes
    .venv/bin/python benchmarks/denorm.py --scale 1 --rounds 2   # quicker

Bar (docs/benchmarks.md): list reads at least 3x faster at the demo's larger scale; the
write cost is reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from demo_commands import DEMO, FIXES, demo_env, manage, psql, seed_and_record

RESULT = "DENORM-RESULT "


# --------------------------------------------------------------------------- worker side


def _list_paths() -> list[str]:
    """The demo's list endpoints, on data that exists at any scale."""
    from django.db.models import Count

    from blog.models import Follow, Tag

    tag = Tag.objects.annotate(n=Count("articles")).order_by("-n", "pk").first()
    assert tag is not None, "the demo is not seeded"
    reader = Follow.objects.values("follower__username").annotate(n=Count("pk")).order_by("-n")[0]
    username = reader["follower__username"]
    return [
        "/",
        "/?page=3",
        f"/tag/{tag.slug}/",
        "/feed/",
        f"/profile/{username}/favorites/",
        "/api/articles/",
        "/api/articles/?limit=100",
    ]


def _reader() -> Any:
    """The signed-in reader: the user who follows the most authors (a full feed)."""
    from django.contrib.auth import get_user_model
    from django.db.models import Count

    from blog.models import Follow

    top = Follow.objects.values("follower").annotate(n=Count("pk")).order_by("-n")[0]
    return get_user_model().objects.get(pk=top["follower"])


class DatabaseTimer:
    """An execute wrapper adding up the time statements take in the database (psycopg
    fetches the rows within ``execute``)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started


def worker(payload: dict[str, Any]) -> dict[str, Any]:
    import django

    django.setup()
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from blog import mirrors
    from blog.models import Article, Tag

    client = Client()
    client.force_login(_reader())
    reads: dict[str, dict[str, float]] = {}
    for path in _list_paths():
        for _ in range(payload["warmup"]):
            assert client.get(path).status_code == 200, path
        timer = DatabaseTimer()
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as ran, connection.execute_wrapper(timer):
            for _ in range(payload["requests"]):
                client.get(path)
        elapsed = time.perf_counter() - started
        reads[path] = {
            "ms": elapsed / payload["requests"] * 1000,
            "db_ms": timer.seconds / payload["requests"] * 1000,
            "queries": len(ran) / payload["requests"],
        }
    articles = list(
        Article.objects.filter(is_published=True).order_by("-published_at")[: payload["writes"]]
    )
    tags = list(Tag.objects.order_by("pk")[:6])

    def timed(write: Any) -> dict[str, float]:
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as ran:
            for article in articles:
                write(article)
        n = 2 * len(articles)  # every write is done and undone
        return {"ms": (time.perf_counter() - started) / n * 1000, "queries": len(ran) / n}

    def favorite_twice(article: Article) -> None:
        for _ in range(2):  # favorite, then unfavorite (or the other way round)
            done = client.post(f"/article/{article.slug}/favorite/", HTTP_ACCEPT="application/json")
            assert done.status_code == 200, done.status_code

    def retag_twice(article: Article) -> None:
        old = list(article.tags.all())
        with transaction.atomic():
            article.tags.set(tags[:3])  # what publishing an article with three tags does
        with transaction.atomic():
            article.tags.set(old)

    writes = {"favorite toggle (POST)": timed(favorite_twice), "tags.set()": timed(retag_twice)}
    return {
        "copies": sorted(mirrors.APPLIED),
        "reads": reads,
        "writes": writes,
    }


# --------------------------------------------------------------------------- orchestrator


def run_worker(env: dict[str, str], payload: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(payload)],
        cwd=DEMO, check=True, text=True, stdout=subprocess.PIPE,
        env={**env, "PYTHONPATH": str(DEMO), "DJANGO_SETTINGS_MODULE": "demosite.settings"},
    )  # fmt: skip
    line = next(x for x in done.stdout.splitlines() if x.startswith(RESULT))
    result: dict[str, Any] = json.loads(line[len(RESULT) :])
    return result


def _median_ratio(rounds: list[tuple[float, float]]) -> tuple[float, float, float]:
    ratios = [b / a for b, a in rounds if a]
    return statistics.median(ratios), min(ratios), max(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=20, help="timed GETs per endpoint")
    parser.add_argument("--writes", type=int, default=20, help="articles written per kind")
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(RESULT + json.dumps(worker(json.loads(args.worker))))
        return
    print(f"command: python benchmarks/denorm.py {' '.join(sys.argv[1:])}".rstrip())
    before_db, after_db = "pareto_bench_denorm", "pareto_bench_denorm_after"
    for db in (before_db, after_db):
        psql(f"DROP DATABASE IF EXISTS {db}", f"{args.server}/postgres")
    psql(f"CREATE DATABASE {before_db}", f"{args.server}/postgres")
    migrations = DEMO / "blog" / "migrations"
    payload = {"requests": args.requests, "warmup": 3, "writes": args.writes}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = demo_env(f"{args.server}/{before_db}", tmp)
            seed_and_record(env, args.scale)
            doctor = json.loads(manage(env, "pareto", "doctor", "--run", "before",
                                       "--format", "json", capture=True))  # fmt: skip
            advised = [f for f in doctor["findings"] if f["id"] == "pareto.D001"]
            for finding in advised:
                print(f"advised: {finding['title']} ({finding['fix']['code']})")
            if not advised:
                sys.exit("the doctor advised no pareto.D001 at this scale: nothing to measure")
            # Both sides get the doctor's index fixes (the order a team fixes things in):
            # what is left to compare is the copies.
            manage(env, "pareto", "fix", "--run", "before", "--only", "I001", "--only", "X001",
                   "--allow-drop", "--app", "blog", "--write")  # fmt: skip
            manage(env, "migrate", "--verbosity", "0")
            manage(env, "pareto", "fix", "--run", "before", "--only", "D001", "--app", "blog",
                   "--write")  # fmt: skip
            psql(f"CREATE DATABASE {after_db} TEMPLATE {before_db}", f"{args.server}/postgres")
            fixed = {**env, "DEMO_FIXED": "1"}
            after_env = {**fixed, "DATABASE_URL": f"{args.server}/{after_db}"}
            started = time.perf_counter()
            manage(after_env, "migrate", "blog", "--verbosity", "0")
            print(f"after: copies added and backfilled in {time.perf_counter() - started:.1f} s")
            # The backfill rewrote every row of "after" once per copy: without compacting,
            # its table would be that many times larger (what a scan such as the paginator's
            # COUNT pays for until the space is reused). Both compacted: steady state.
            for db in (before_db, after_db):
                psql("VACUUM FULL ANALYZE", f"{args.server}/{db}")
            sides = {"before": {**fixed, "DEMO_MIRRORS": "0"}, "after": after_env}
            results: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
            for r in range(args.rounds):
                order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
                for side in order:
                    results[side].append(run_worker(sides[side], payload))
                print(f"  round {r + 1}/{args.rounds} done")
    finally:
        for path in migrations.glob(FIXES):
            path.unlink()
        for db in (before_db, after_db):
            psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", f"{args.server}/postgres")
    report(results, args)


def report(results: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> None:
    before, after = results["before"], results["after"]
    print(f"copies read by 'after': {', '.join(after[0]['copies'])}; 'before' prefetches")
    print()
    print("| list endpoint (GET, signed in) | before ms | after ms | speedup | queries before"
          " -> after | database ms before -> after |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|")
    totals = []
    for path in before[0]["reads"]:
        pairs = [
            (b["reads"][path]["ms"], a["reads"][path]["ms"])
            for b, a in zip(before, after, strict=True)
        ]
        mid, low, high = _median_ratio(pairs)
        qb, qa = before[0]["reads"][path]["queries"], after[0]["reads"][path]["queries"]
        db_b = statistics.median(b["reads"][path]["db_ms"] for b in before)
        db_a = statistics.median(a["reads"][path]["db_ms"] for a in after)
        print(
            f"| `{path}` | {statistics.median(p[0] for p in pairs):.1f} | "
            f"{statistics.median(p[1] for p in pairs):.1f} | {mid:.2f}x [{low:.2f}, {high:.2f}]"
            f" | {qb:.1f} -> {qa:.1f} | {db_b:.1f} -> {db_a:.1f} |"
        )
    for b, a in zip(before, after, strict=True):
        totals.append((sum(x["ms"] for x in b["reads"].values()),
                       sum(x["ms"] for x in a["reads"].values())))  # fmt: skip
    mid, low, high = _median_ratio(totals)
    b_total = statistics.median(t[0] for t in totals)
    a_total = statistics.median(t[1] for t in totals)
    db_totals = [
        (sum(x["db_ms"] for x in b["reads"].values()), sum(x["db_ms"] for x in a["reads"].values()))
        for b, a in zip(before, after, strict=True)
    ]
    db_mid = _median_ratio(db_totals)[0]
    print(f"| all of them (sum of ms per request) | {b_total:.1f} | {a_total:.1f} | "
          f"{mid:.2f}x [{low:.2f}, {high:.2f}] | | {db_mid:.2f}x less |")  # fmt: skip
    print()
    print("| many-to-many write | before ms | after ms | cost (after / before) | queries before"
          " -> after |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    for kind in before[0]["writes"]:
        pairs = [
            (a["writes"][kind]["ms"], b["writes"][kind]["ms"])
            for b, a in zip(before, after, strict=True)
        ]
        mid, low, high = _median_ratio(pairs)  # after / before: the cost
        qb, qa = before[0]["writes"][kind]["queries"], after[0]["writes"][kind]["queries"]
        print(
            f"| {kind} | {statistics.median(p[1] for p in pairs):.2f} | "
            f"{statistics.median(p[0] for p in pairs):.2f} | {mid:.2f}x [{low:.2f}, {high:.2f}] |"
            f" {qb:.1f} -> {qa:.1f} |"
        )
    print()
    mid = _median_ratio(totals)[0]
    print(f"bar, list reads at least 3x faster: {'MET' if mid >= 3 else 'NOT MET'} ({mid:.2f}x)")


if __name__ == "__main__":
    main()
