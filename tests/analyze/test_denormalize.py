"""Denormalization advice: pareto.D001.

End to end: the views of tests/denorm_advice_app run through the capture middleware into a
temporary store, on SQLite and on PostgreSQL, and the analyzer must advise a copy of the
related ids where a list prefetches only them, of two short columns where the list reads
those, of ids (with a note) where a long text column is read, and nothing (with a note)
for a small relation, one written as often as read, and one only joined in a filter. The
cases differ in shape (15,000 through rows against 60, one write per read against none),
never in timing thresholds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from django.db.models import Count, Prefetch
from django.test import Client

from django_pareto.analyze.context import AnalysisContext
from django_pareto.analyze.denormalize import DenormalizeAnalyzer
from django_pareto.analyze.denormalize_fix import singular
from django_pareto.analyze.denormalize_sql import (
    FILTER,
    JOIN,
    PER_ROW,
    PREFETCH,
    REVERSE,
    Use,
    relation_of,
    uses,
)
from django_pareto.analyze.findings import AddMirror, AnalyzerResult, Finding
from django_pareto.analyze.schema import SchemaMap
from django_pareto.capture.fingerprint import normalize
from django_pareto.doctor import Diagnosis, diagnose
from django_pareto.fix import plan_fixes, render_migrations
from django_pareto.store import Store
from django_pareto.store.records import QueryEvent, RequestRecord
from django_pareto.store.sqlite import SQLiteStore
from tests.denorm_advice_app.models import (
    Article,
    Book,
    Color,
    Ingredient,
    Loan,
    Reader,
    Recipe,
    Shirt,
    Tag,
)
from tests.index_app.scenario import raw_sql

pytestmark = pytest.mark.urls("tests.denorm_advice_app.urls")

ROOT = Path(__file__).parents[2]
MODELS = "tests/denorm_advice_app/models.py"
VIEWS = "tests/denorm_advice_app/views.py"
ROUNDS = 6
# Through rows: 15,000 and 12,000 (past MIN_THROUGH_ROWS) against 60 for the shirts.
ARTICLES, TAGS, TAGS_EACH = 3_000, 150, 5
RECIPES, INGREDIENTS, INGREDIENTS_EACH = 2_000, 300, 6
BOOKS, READERS, LOANS_EACH = 1_500, 400, 8
SHIRTS, COLORS, COLORS_EACH = 30, 10, 2


def line_of(path: str, marker: str) -> str:
    """``path:<line>`` of the line that ends with ``# <marker>`` (or declares ``marker``)."""
    lines = (ROOT / path).read_text().splitlines()
    (number,) = [
        i
        for i, text in enumerate(lines, 1)
        if text.rstrip().endswith(f"# {marker}") or text.lstrip().startswith(f"{marker} = ")
    ]
    return f"{path}:{number}"


def spread(i: int, k: int, n: int) -> int:
    """The k-th of ``i``'s related rows among n: distinct for k below the count taken."""
    return (i * 7 + k * 31) % n


def fill_articles(alias: str) -> None:
    tags = Tag.objects.using(alias).bulk_create(
        Tag(name=f"Tag {i}", slug=f"tag-{i}") for i in range(TAGS)
    )
    articles = Article.objects.using(alias).bulk_create(
        Article(title=f"article {i}") for i in range(ARTICLES)
    )
    through = Article.tags.through
    through.objects.using(alias).bulk_create(
        through(article_id=a.pk, tag_id=tags[spread(i, k, TAGS)].pk)
        for i, a in enumerate(articles)
        for k in range(TAGS_EACH)
    )


def fill_recipes(alias: str) -> None:
    ingredients = Ingredient.objects.using(alias).bulk_create(
        Ingredient(name=f"ingredient {i}", vegan=i % 3 == 0, notes="Keep cool. " * 40)
        for i in range(INGREDIENTS)
    )
    recipes = Recipe.objects.using(alias).bulk_create(
        Recipe(title=f"recipe {i}") for i in range(RECIPES)
    )
    through = Recipe.ingredients.through
    through.objects.using(alias).bulk_create(
        through(recipe_id=r.pk, ingredient_id=ingredients[spread(i, k, INGREDIENTS)].pk)
        for i, r in enumerate(recipes)
        for k in range(INGREDIENTS_EACH)
    )


def fill_books(alias: str) -> None:
    readers = Reader.objects.using(alias).bulk_create(
        Reader(name=f"reader {i}") for i in range(READERS)
    )
    books = Book.objects.using(alias).bulk_create(Book(title=f"book {i}") for i in range(BOOKS))
    Loan.objects.using(alias).bulk_create(
        Loan(book=b, reader=readers[spread(i, k, READERS)])
        for i, b in enumerate(books)
        for k in range(LOANS_EACH)
    )


def fill_shirts(alias: str) -> None:
    colors = Color.objects.using(alias).bulk_create(Color(name=f"c{i}") for i in range(COLORS))
    shirts = Shirt.objects.using(alias).bulk_create(Shirt(name=f"s{i}") for i in range(SHIRTS))
    through = Shirt.colors.through
    through.objects.using(alias).bulk_create(
        through(shirt_id=s.pk, color_id=colors[spread(i, k, COLORS)].pk)
        for i, s in enumerate(shirts)
        for k in range(COLORS_EACH)
    )


@pytest.fixture(params=["default", "postgres"], ids=["sqlite", "postgresql"])
def alias(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "postgres":
        request.getfixturevalue("postgres_alias")
    yield request.param


def prefix(alias: str) -> str:
    return "pg/" if alias == "postgres" else ""


class Recording:
    def __init__(self, client: Client, recorded: Callable[[], Store], alias: str) -> None:
        self.client, self.recorded, self.alias = client, recorded, alias

    def run(self, views: Sequence[str], posts: Sequence[str] = ()) -> Store:
        """ROUNDS rounds: a GET of each view, then a POST to each of ``posts``."""
        for i in range(ROUNDS):
            for view in views:
                url = f"/{prefix(self.alias)}{view}/?tag=tag-{i}"
                assert self.client.get(url).status_code == 200
            for view in posts:
                url = f"/{prefix(self.alias)}{view}/"
                assert self.client.post(url, {"reader": i + 1}).status_code == 201
        return self.recorded()

    def analyze(self, views: Sequence[str], posts: Sequence[str] = ()) -> AnalyzerResult:
        store = self.run(views, posts)
        run = store.run("test")
        assert run is not None
        return DenormalizeAnalyzer().analyze(AnalysisContext(store, run))


@pytest.fixture
def recording(client: Client, recorded: Callable[[], Store], alias: str) -> Recording:
    return Recording(client, recorded, alias)


def only(result: AnalyzerResult, obj: str) -> Finding:
    found = [f for f in result.findings if f.obj == obj]
    assert len(found) == 1, ([(f.id, f.obj) for f in result.findings], result.notes)
    return found[0]


def note_on(result: AnalyzerResult, obj: str) -> str:
    (note,) = [n for n in result.notes if n.startswith(f"{obj}: ")]
    return note


@pytest.mark.django_db(databases=["default", "postgres"])
def test_a_prefetch_of_ids_and_a_filter_through_a_large_relation(
    recording: Recording, alias: str
) -> None:
    fill_articles(alias)
    result = recording.analyze(["articles", "tagged"])
    finding = only(result, "denorm_advice_app.Article.tags")
    postgres = alias == "postgres"
    gin = "denorm_advi_tag_ids_365d06_idx" if postgres else None
    assert finding.id == "pareto.D001"
    assert finding.title == "Denormalize denorm_advice_app.Article.tags into tag_ids"
    assert finding.fix.code == 'tag_ids = MirrorField("tags")'
    assert finding.fix.location == line_of(MODELS, "tags")
    assert finding.fix.add_mirror == AddMirror(
        app_label="denorm_advice_app",
        model="Article",
        relation="tags",
        name="tag_ids",
        gin_index=gin,
        reads=(line_of(VIEWS, "ids: prefetch"),),
    )
    e = finding.evidence
    # The database's own counts: 15,000 through rows, 5 per article (PostgreSQL's estimate
    # after ANALYZE reads the whole of tables this small: exact).
    assert (e["through_rows"], e["parent_rows"], e["fanout"]) == (
        ARTICLES * TAGS_EACH,
        ARTICLES,
        TAGS_EACH,
    )
    assert e["through_table"] == "denorm_advice_app_article_tags"
    assert not e["explicit_through"]
    assert {(q["kind"], q["callsite"].split(" in ")[0]) for q in e["queries"]} == {
        ("prefetch", line_of(VIEWS, "ids: prefetch")),
        ("filter", line_of(VIEWS, "filter")),
    }
    prefetch = next(q for q in e["queries"] if q["kind"] == "prefetch")
    assert prefetch["columns"] == ["id"]  # the pk only: ids are enough
    assert prefetch["executions"] == ROUNDS
    assert (e["reads"], e["writes"]) == (2 * ROUNDS, 0)
    assert (e["store"], e["fields"]) == ("ids", [])
    # Only the prefetch is removed; the filter's join still runs with a copy.
    assert e["removed_ms"] == prefetch["total_ms"] == prefetch["removed_ms"]
    assert "list_queries" in e and "nplusone" not in e
    assert finding.savings_ms == pytest.approx(e["removed_ms"] - e["copy_read_ms"], abs=1e-3)
    assert set(finding.endpoints) == {
        f"GET /{prefix(alias)}articles/",
        f"GET /{prefix(alias)}tagged/",
    }
    assert "read article.tag_ids" in finding.fix.summary
    assert ("tag_ids__has=<pk>" in finding.fix.summary) is postgres
    assert ("Keep the filters through the relation" in finding.fix.summary) is not postgres


@pytest.mark.django_db(databases=["default", "postgres"])
def test_two_short_related_columns_are_copied_with_the_ids(
    recording: Recording, alias: str
) -> None:
    fill_recipes(alias)
    finding = only(recording.analyze(["recipes"]), "denorm_advice_app.Recipe.ingredients")
    assert (
        finding.fix.code == 'ingredient_info = MirrorField("ingredients", fields=["name", "vegan"])'
    )
    assert finding.fix.location == line_of(MODELS, "ingredients")
    mirror = finding.fix.add_mirror
    assert mirror is not None
    assert (mirror.name, mirror.fields, mirror.gin_index) == (
        "ingredient_info",
        ("name", "vegan"),
        None,
    )
    e = finding.evidence
    assert (e["store"], e["selected_columns"]) == ("fields", ["id", "name", "vegan"])
    assert (e["through_rows"], e["target_rows"], e["target_changes"]) == (
        RECIPES * INGREDIENTS_EACH,
        INGREDIENTS,
        0,
    )
    assert "store_note" not in e


@pytest.mark.django_db(databases=["default", "postgres"])
def test_a_long_related_column_leaves_ids_and_a_note(recording: Recording, alias: str) -> None:
    fill_recipes(alias)
    finding = only(recording.analyze(["recipes_full"]), "denorm_advice_app.Recipe.ingredients")
    assert finding.fix.code == 'ingredient_ids = MirrorField("ingredients")'
    e = finding.evidence
    assert (e["store"], e["selected_columns"]) == ("ids", ["id", "name", "vegan", "notes"])
    assert e["store_note"].startswith(
        "the reads select Ingredient.notes (TextField): not copied into every Recipe"
    )


@pytest.mark.django_db(databases=["default", "postgres"])
def test_a_small_relation_is_not_denormalized(recording: Recording, alias: str) -> None:
    fill_shirts(alias)
    result = recording.analyze(["shirts"])
    assert result.findings == []
    note = note_on(result, "denorm_advice_app.Shirt.colors")
    assert note.startswith(
        "denorm_advice_app.Shirt.colors: not denormalized: the through table has "
        f"{SHIRTS * COLORS_EACH} rows (advised from 10,000: below, the join reads a few "
        "cached pages)"
    ), note


@pytest.mark.django_db(databases=["default", "postgres"])
def test_a_relation_written_as_often_as_read_is_not_denormalized(
    recording: Recording, alias: str
) -> None:
    fill_books(alias)
    result = recording.analyze(["books"], posts=["borrow"])
    assert result.findings == []
    note = note_on(result, "denorm_advice_app.Book.readers")
    assert note.startswith("denorm_advice_app.Book.readers: not denormalized: written 6 times")
    assert "against 6 reads" in note
    assert note.endswith("a copy moves cost to the writes; advised from 5 reads per write"), note


@pytest.mark.django_db
def test_a_relation_only_filtered_through_is_not_denormalized(
    client: Client, recorded: Callable[[], Store]
) -> None:
    fill_articles("default")
    result = Recording(client, recorded, "default").analyze(["tagged"])
    assert result.findings == []
    note = note_on(result, "denorm_advice_app.Article.tags")
    assert note.endswith(
        "it is only joined in list queries (filters, counts), which still run with a copy: "
        "nothing to remove"
    ), note


@pytest.mark.django_db
def test_per_row_reads_are_counted_once_per_request_beside_nplusone(
    client: Client, recorded: Callable[[], Store]
) -> None:
    fill_articles("default")
    store = Recording(client, recorded, "default").run(["article_loop"])
    diagnosis = diagnose(store, "test")
    (n001,) = [f for f in diagnosis.findings if f.id == "pareto.N001"]
    (d001,) = [f for f in diagnosis.findings if f.id == "pareto.D001"]
    assert n001.obj == d001.obj == "denorm_advice_app.Article.tags"
    (query,) = d001.evidence["queries"]
    assert query["kind"] == "per_row"
    assert (query["executions"], query["requests"]) == (20 * ROUNDS, ROUNDS)
    assert d001.evidence["reads"] == ROUNDS  # a loop becomes one prefetch per request
    assert query["removed_ms"] == pytest.approx(query["total_ms"] / 20, abs=1e-3)
    assert "pareto.N001's to prefetch" in d001.message
    assert d001.fix.add_mirror is not None
    assert d001.fix.add_mirror.reads == (line_of(VIEWS, "ids: loop"),)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("tags", "tag"),
        ("categories", "category"),
        ("boxes", "box"),
        ("favorited_by", "favorited_by"),
        ("readers", "reader"),
        ("address", "address"),
    ],
)
def test_singular(name: str, expected: str) -> None:
    assert singular(name) == expected


@pytest.mark.django_db(databases=["default", "postgres"])
def test_the_finding_becomes_a_migration(recording: Recording, alias: str) -> None:
    fill_articles(alias)
    finding = only(recording.analyze(["articles", "tagged"]), "denorm_advice_app.Article.tags")
    vendor = "postgresql" if alias == "postgres" else "sqlite"
    plan = plan_fixes(Diagnosis(run="test", findings=[finding]), vendor)
    (rendered,) = render_migrations(plan, include_header=False)
    assert rendered.name == "0002_pareto_article_tag_ids"
    assert "from django_pareto.denorm import MirrorField\n" in rendered.text
    assert "from django_pareto.denorm.operations import BackfillMirror\n" in rendered.text
    assert "field=MirrorField('tags')," in rendered.text
    assert ("GinIndex(fields=['tag_ids']" in rendered.text) is (alias == "postgres")


# -- how a statement uses a relation, on the SQL Django runs -----------------------------

ARTICLE_TAGS = "denorm_advice_app_article_tags"
SHAPES: list[tuple[str, Callable[[Article, Tag], object], str, list[Use]]] = [
    (
        "prefetch",
        lambda a, t: list(Article.objects.prefetch_related("tags")),
        ARTICLE_TAGS,
        [Use(PREFETCH, ("id", "name", "slug"))],
    ),
    (
        "prefetch of pks",
        lambda a, t: list(
            Article.objects.prefetch_related(Prefetch("tags", Tag.objects.only("id")))
        ),
        ARTICLE_TAGS,
        [Use(PREFETCH, ("id",))],
    ),
    (
        "one row's",
        lambda a, t: list(a.tags.all()),
        ARTICLE_TAGS,
        [Use(PER_ROW, ("id", "name", "slug"))],
    ),
    ("one row's count", lambda a, t: a.tags.count(), ARTICLE_TAGS, [Use(PER_ROW, (), counts=True)]),
    (
        "filter by a related column",
        lambda a, t: list(Article.objects.filter(tags__slug="t")),
        ARTICLE_TAGS,
        [Use(FILTER)],
    ),
    (
        "filter by a related pk",
        lambda a, t: list(Article.objects.filter(tags=t)),
        ARTICLE_TAGS,
        [Use(FILTER)],
    ),
    ("the reverse manager", lambda a, t: list(t.articles.all()), ARTICLE_TAGS, [Use(FILTER)]),
    (
        "exclude",
        lambda a, t: list(Article.objects.exclude(tags__slug="t")),
        ARTICLE_TAGS,
        [Use(FILTER)],
    ),
    (
        "count per row",
        lambda a, t: list(Article.objects.annotate(n=Count("tags"))),
        ARTICLE_TAGS,
        [Use(JOIN)],
    ),
    (
        "the other side's prefetch",
        lambda a, t: list(Tag.objects.prefetch_related("articles")),
        ARTICLE_TAGS,
        [Use(REVERSE)],
    ),
    (
        "the other side's filter",
        lambda a, t: list(Tag.objects.filter(articles__title="x")),
        ARTICLE_TAGS,
        [Use(REVERSE)],
    ),
    (
        "an explicit through model",
        lambda a, t: list(Book.objects.prefetch_related("readers")),
        "denorm_advice_app_loan",
        [Use(PREFETCH, ("id", "name"))],
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("shape", "code", "through", "expected"), SHAPES, ids=[s[0] for s in SHAPES]
)
def test_how_a_statement_uses_a_relation(
    shape: str, code: Callable[[Article, Tag], object], through: str, expected: list[Use]
) -> None:
    article = Article.objects.create(title="x")
    tag = Tag.objects.create(name="t", slug="t")
    Book.objects.create(title="b")
    relation = relation_of(SchemaMap(), through)
    assert relation is not None
    found = [
        use
        for sql in raw_sql("default", lambda: code(article, tag))
        if through in sql
        for use in uses(normalize(sql), relation)
    ]
    assert found == expected


@pytest.mark.django_db
def test_writes_read_first_but_are_not_read_paths() -> None:
    article = Article.objects.create(title="x")
    tags = [Tag.objects.create(name=f"t{i}", slug=f"t{i}") for i in range(2)]
    relation = relation_of(SchemaMap(), ARTICLE_TAGS)
    assert relation is not None
    # .remove() deletes by both columns; .add() with signals first asks which rows exist.
    sql = (
        'SELECT "denorm_advice_app_article_tags"."tag_id" FROM "denorm_advice_app_article_tags" '
        'WHERE ("denorm_advice_app_article_tags"."article_id" = %s AND '
        '"denorm_advice_app_article_tags"."tag_id" IN (...))'
    )
    assert uses(sql, relation) == ()
    statements = raw_sql("default", lambda: article.tags.remove(*tags))
    assert all(uses(normalize(s), relation) == () for s in statements if s.startswith("DELETE"))


# -- the arithmetic, on runs written through the store with exact durations ----------------

LIST_SITE = ("app/views.py", 10, "articles")
SET_SITE = ("app/views.py", 30, "retag")


def request(i: int, endpoint: str, events: list[QueryEvent], weight: float = 1.0) -> RequestRecord:
    db_ms = sum(e.duration_ms for e in events)
    return RequestRecord(
        id=i,
        endpoint=endpoint,
        view_name="v",
        method=endpoint.split()[0],
        status=200,
        started_at=1000.0 + i,
        duration_ms=db_ms + 20,
        db_ms=db_ms,
        query_count=len(events),
        sampled=True,
        weight=weight,
        queries=events,
    )


def events(
    code: Callable[[], object], site: tuple[str, int, str], ms: dict[str, float]
) -> list[QueryEvent]:
    """The SQL Django runs for ``code``, each statement timed by the first key it contains."""
    found: list[QueryEvent] = []
    for sql in raw_sql("default", code):
        key = next((k for k in ms if k in sql), None)
        if key is not None:
            found.append(QueryEvent(sql, "default", ms[key], site, len(found)))
    return found


def analyze(tmp_path: Path, records: list[RequestRecord]) -> AnalyzerResult:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    store.ensure_schema()
    store.write("r", records)
    run = store.run("r")
    assert run is not None
    return DenormalizeAnalyzer().analyze(AnalysisContext(store, run))


@pytest.mark.django_db
def test_savings_reads_and_writes_by_hand(tmp_path: Path) -> None:
    fill_articles("default")
    ids_only = Prefetch("tags", queryset=Tag.objects.only("id"))
    listing = events(
        lambda: list(Article.objects.prefetch_related(ids_only).order_by("-id")[:5]),
        LIST_SITE,
        {"_prefetch_related_val_": 10.0, 'FROM "denorm_advice_app_article"': 2.0},
    )
    article = Article.objects.get(pk=Article.objects.order_by("id").values("pk")[:1])
    # .set() reads the current tags, then deletes and inserts: one read, two writes.
    two = list(Tag.objects.order_by("id")[:2])
    retag = events(
        lambda: article.tags.set(two),
        SET_SITE,
        {"SELECT": 1.0, "DELETE": 1.0, "INSERT": 1.0},
    )
    assert [e.sql.split()[0] for e in retag] == ["SELECT", "DELETE", "INSERT"]
    records = [request(i, "GET /list/", listing, weight=2.0) for i in range(10)]
    records.append(request(10, "POST /retag/", retag, weight=2.0))
    finding = only(analyze(tmp_path, records), "denorm_advice_app.Article.tags")
    e = finding.evidence
    # The .set() line's read belongs to its write: only the prefetch is a read path.
    assert [q["kind"] for q in e["queries"]] == ["prefetch"]
    assert (e["reads"], e["writes"], e["through_writes"]) == (20, 4, 4)
    assert e["endpoints"]["GET /list/"]["db_share"] == pytest.approx(10 / 12, abs=1e-3)
    # removed 10 x 10 ms x 2; reading the copy half of it; 2 statements per write (4 x 1 ms).
    assert (e["removed_ms"], e["copy_read_ms"], e["write_cost_ms"]) == (200, 100, 8)
    assert finding.savings_ms == pytest.approx(200 - 100 - 8)
    assert e["run_seconds"] == pytest.approx(10.023)  # the retag starts at 1010 s, takes 23 ms
    assert e["reads_per_s"] == pytest.approx(20 / 10.023, abs=1e-3)


@pytest.mark.django_db
def test_one_more_write_and_it_is_write_heavy(tmp_path: Path) -> None:
    fill_articles("default")
    listing = events(
        lambda: list(Article.objects.prefetch_related("tags")[:5]),
        LIST_SITE,
        {"_prefetch_related_val_": 10.0},
    )
    article = Article.objects.order_by("id").first()
    assert article is not None
    adding = events(
        lambda: article.tags.add(Tag.objects.order_by("-id")[0]), SET_SITE, {"INSERT": 1.0}
    )
    records = [request(i, "GET /list/", listing) for i in range(9)]
    records += [request(9 + i, "POST /tag/", adding) for i in range(2)]
    result = analyze(tmp_path, records)
    assert result.findings == []
    assert note_on(result, "denorm_advice_app.Article.tags") == (
        "denorm_advice_app.Article.tags: not denormalized: written 2 times (0.2/s) against 9 "
        "reads (0.9/s): a copy moves cost to the writes; advised from 5 reads per write"
    )


@pytest.mark.django_db
def test_reads_from_the_other_side_only(tmp_path: Path) -> None:
    fill_articles("default")
    reverse = events(
        lambda: list(Tag.objects.prefetch_related("articles")[:3]),
        LIST_SITE,
        {"_prefetch_related_val_": 10.0},
    )
    result = analyze(tmp_path, [request(i, "GET /tags/", reverse) for i in range(3)])
    assert result.findings == []
    assert note_on(result, "denorm_advice_app.Article.tags").endswith(
        "a copy on Article does not serve those reads: not denormalized"
    )


@pytest.mark.django_db
def test_nothing_to_look_at_says_why(tmp_path: Path) -> None:
    unsampled = request(0, "GET /a/", [])
    assert analyze(tmp_path, [unsampled]).notes == [
        "no query detail recorded in this run (no sampled requests)"
    ]
    plain = events(lambda: list(Tag.objects.all()[:3]), LIST_SITE, {"SELECT": 1.0})
    assert analyze(tmp_path, [request(1, "GET /b/", plain)]).notes == [
        "no query read a many-to-many relation through its through table"
    ]
