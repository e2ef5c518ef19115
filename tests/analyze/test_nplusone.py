"""N+1 (pareto.N001) and repeated queries (pareto.N002) found in requests recorded for real.

Each view of tests/nplusone_app runs one kind of N+1 (or a case that must not be flagged)
through the capture middleware into a temporary store, on SQLite and on PostgreSQL; the
analyzer must name the relation, the lines and the code of the fix.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import django
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from django_pareto.analyze.context import AnalysisContext
from django_pareto.analyze.findings import AnalyzerResult, Finding
from django_pareto.analyze.nplusone import NPlusOneAnalyzer
from django_pareto.analyze.nplusone_sql import shape_of
from django_pareto.store import Store
from tests.nplusone_app.models import Customer, Order, OrderLine, Product, Profile, Tag

pytestmark = pytest.mark.urls("tests.nplusone_app.urls")

ROWS = 6  # orders, customers, products, tags: above the threshold of 5
VIEWS = "tests/nplusone_app/views.py"
TEMPLATE = "tests/nplusone_app/templates/nplusone_app/orders.html"


def line_of(marker: str) -> str:
    """``views.py:<line>`` of the line marked ``# <marker>`` in the test app's views."""
    lines = (Path(__file__).parents[2] / VIEWS).read_text().splitlines()
    (number,) = [i for i, text in enumerate(lines, 1) if text.rstrip().endswith(f"# {marker}")]
    return f"{VIEWS}:{number}"


def make_shop(alias: str) -> None:
    tags = [Tag.objects.using(alias).create(name=f"t{i}") for i in range(ROWS)]
    for i in range(ROWS):
        customer = Customer.objects.using(alias).create(name=f"c{i}")
        Profile.objects.using(alias).create(customer=customer, city=f"city{i}")
        product = Product.objects.using(alias).create(sku=f"sku-{i}", name=f"p{i}")
        product.tags.set([tags[i], tags[(i + 1) % ROWS]])
        order = Order.objects.using(alias).create(customer=customer, number=i)
        OrderLine.objects.using(alias).create(order=order, product=product, quantity=i)
        OrderLine.objects.using(alias).create(order=order, product=product, quantity=2)


def diagnose(
    client: Client, recorded: Callable[[], Store], alias: str, *views: str
) -> AnalyzerResult:
    for view in views:
        assert client.get(f"/{alias}/{view}/").status_code == 200
    store = recorded()
    run = store.run("test")
    assert run is not None
    return NPlusOneAnalyzer().analyze(AnalysisContext(store, run))


def only(result: AnalyzerResult, id: str = "pareto.N001") -> Finding:
    found = [f for f in result.findings if f.id == id]
    assert len(found) == 1, [(f.id, f.title) for f in result.findings]
    return found[0]


# view, obj, fix code, the marker of the parent line (the location of the fix)
CASES = {
    "forward_fk": ("nplusone_app.Order.customer", '.select_related("customer")'),
    "reverse_o2o": ("nplusone_app.Customer.profile", '.select_related("profile")'),
    "to_field": ("nplusone_app.OrderLine.product", '.select_related("product")'),
    "reverse_fk": ("nplusone_app.Order.lines", '.prefetch_related("lines")'),
    "m2m": ("nplusone_app.Product.tags", '.prefetch_related("tags")'),
    "reverse_m2m": ("nplusone_app.Tag.products", '.prefetch_related("products")'),
    "count": (
        "nplusone_app.Order.lines",
        '.annotate(lines_count=Count("lines", distinct=True))',
    ),
    "exists": (
        "nplusone_app.Order.lines",
        '.annotate(has_lines=Exists(OrderLine.objects.filter(order=OuterRef("pk"), ...)))',
    ),
    "bypassed": (
        "nplusone_app.Order.lines",
        '.prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("-quantity"),'
        ' to_attr="lines_ordered"))',
    ),
}
VIEW_OF = {
    "reverse_o2o": "reverse_one_to_one",
    "m2m": "many_to_many",
    "reverse_m2m": "reverse_many_to_many",
    "bypassed": "prefetch_bypassed",
}
MAIN_KINDS = ["forward_fk", "reverse_o2o", "reverse_fk", "m2m", "count", "exists", "bypassed"]


def check_case(result: AnalyzerResult, case: str) -> None:
    obj, code = CASES[case]
    finding = only(result)
    assert (finding.obj, finding.fix.code) == (obj, code)
    assert finding.fix.location == line_of(f"parent: {case}")
    assert finding.evidence["callsite"].startswith(line_of(f"access: {case}"))
    assert finding.evidence["parent_callsite"].startswith(line_of(f"parent: {case}"))
    assert finding.evidence["requests"] == 1
    lines = 2 * ROWS  # two lines per order
    assert finding.evidence["calls_per_request"]["max"] == (lines if case == "to_field" else ROWS)
    assert finding.savings_ms > 0
    assert finding.title == f"N+1 on {obj}"
    assert [f.id for f in result.findings] == ["pareto.N001"]


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(CASES))
def test_each_kind_of_n_plus_one_on_sqlite(
    client: Client, recorded: Callable[[], Store], case: str
) -> None:
    make_shop("default")
    check_case(diagnose(client, recorded, "default", VIEW_OF.get(case, case)), case)


@pytest.mark.django_db(databases=["default", "postgres"])
@pytest.mark.parametrize("case", MAIN_KINDS)
def test_main_kinds_of_n_plus_one_on_postgresql(
    postgres_alias: str, client: Client, recorded: Callable[[], Store], case: str
) -> None:
    make_shop(postgres_alias)
    check_case(diagnose(client, recorded, postgres_alias, VIEW_OF.get(case, case)), case)


@pytest.mark.django_db
def test_a_loop_in_a_template_points_at_the_template_lines(
    client: Client, recorded: Callable[[], Store]
) -> None:
    make_shop("default")
    finding = only(diagnose(client, recorded, "default", "template_loop"))
    assert finding.obj == "nplusone_app.Order.customer"
    assert finding.fix.location == f"{TEMPLATE}:1"  # {% for order in orders %}
    assert finding.evidence["callsite"] == f"{TEMPLATE}:2 in <template>"


@pytest.mark.django_db
def test_a_loop_that_no_relation_explains_says_so(
    client: Client, recorded: Callable[[], Store]
) -> None:
    make_shop("default")
    finding = only(diagnose(client, recorded, "default", "raw_loop"))
    assert (finding.obj, finding.evidence["kind"], finding.fix.code) == (
        "nplusone_app.Customer",
        "loop",
        None,
    )
    assert finding.fix.location == line_of("access: raw_loop")
    assert "one query before the loop" in finding.fix.summary
    assert finding.title == "N+1 on nplusone_app.Customer"


@pytest.mark.django_db
def test_the_evidence_of_an_n_plus_one_over_several_requests(
    client: Client, recorded: Callable[[], Store]
) -> None:
    make_shop("default")
    finding = only(diagnose(client, recorded, "default", *["forward_fk"] * 3))
    evidence = finding.evidence
    assert evidence["requests"] == 3
    assert evidence["calls_per_request"] == {"min": ROWS, "median": ROWS, "max": ROWS}
    assert evidence["endpoints"] == ["GET /<str:alias>/forward_fk/"]
    assert "(calls - 1)" in evidence["savings_formula"]
    assert 'FROM "nplusone_app_customer"' in evidence["sql"]
    # total_ms is rounded to 0.001 ms in the evidence: compare within that rounding.
    expected = evidence["total_ms"] * (ROWS - 1) / ROWS
    assert finding.savings_ms == pytest.approx(expected, rel=1e-3, abs=0.001)
    if django.VERSION >= (6, 1):
        assert "FETCH_PEERS" in evidence["fetch_mode"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "view", ["joined", "prefetched", "annotated", "under_threshold", "different_sites", "bulk"]
)
def test_no_finding_where_there_is_no_n_plus_one(
    client: Client, recorded: Callable[[], Store], view: str
) -> None:
    make_shop("default")
    assert diagnose(client, recorded, "default", view).findings == []


@pytest.mark.django_db
def test_below_the_threshold_the_notes_say_why(
    client: Client, recorded: Callable[[], Store]
) -> None:
    make_shop("default")
    result = diagnose(client, recorded, "default", "under_threshold")
    assert result.notes == [
        "1 repeated queries below the threshold of 5 (N_PLUS_ONE_THRESHOLD) executions "
        "from one call site in one request"
    ]


@pytest.mark.django_db
def test_the_threshold_is_a_setting(
    client: Client, recorded: Callable[[], Store], settings: object, store_path: Path
) -> None:
    settings.PARETO = {"STORE": str(store_path), "RUN": "test", "N_PLUS_ONE_THRESHOLD": 3}  # type: ignore[attr-defined]
    make_shop("default")
    finding = only(diagnose(client, recorded, "default", "under_threshold"))
    assert finding.obj == "nplusone_app.Order.customer"


@pytest.mark.django_db
def test_the_same_query_twice_in_one_request_is_n002(
    client: Client, recorded: Callable[[], Store]
) -> None:
    make_shop("default")
    result = diagnose(client, recorded, "default", "repeated")
    assert {f.id for f in result.findings} == {"pareto.N002"}
    by_obj = {f.obj: f for f in result.findings}
    helper = by_obj["nplusone_app.Customer"]
    assert helper.fix.location == line_of("access: repeated")
    assert helper.evidence["calls_per_request"]["max"] == 2
    count = by_obj["nplusone_app.Tag"]  # no parameters: two call sites run the same query
    assert set(count.evidence["callsites"]) == {
        f"{line_of('access: repeated_count_1')} in repeated",
        f"{line_of('access: repeated_count_2')} in repeated",
    }


@pytest.mark.parametrize(
    ("sql", "table", "equals", "aggregate"),
    [
        (
            'SELECT COUNT(*) AS "__count" FROM "blog_comment" '
            'WHERE "blog_comment"."article_id" = %s',
            "blog_comment",
            (("blog_comment", "article_id"),),
            "count",
        ),
        (
            'SELECT %s AS "a" FROM "auth_user" INNER JOIN "blog_article_favorited_by" ON '
            '("auth_user"."id" = "blog_article_favorited_by"."user_id") WHERE '
            '("blog_article_favorited_by"."article_id" = %s AND "auth_user"."id" = %s) LIMIT %s',
            "auth_user",
            (("blog_article_favorited_by", "article_id"), ("auth_user", "id")),
            "exists",
        ),
        (
            'SELECT "t"."id" FROM "t" U0 WHERE U0."x" IN (...) ORDER BY U0."id" DESC',
            "t",
            (),
            None,
        ),
    ],
)
def test_query_shapes(sql: str, table: str, equals: tuple, aggregate: str | None) -> None:
    shape = shape_of(sql)
    assert shape is not None
    assert (shape.table, shape.equals, shape.aggregate) == (table, equals, aggregate)


@pytest.mark.parametrize("sql", ['SAVEPOINT "s_x"', 'INSERT INTO "t" VALUES (%s)', "garbage ("])
def test_statements_that_are_not_selects_have_no_shape(sql: str) -> None:
    assert shape_of(sql) is None


# -- the demo site: P1-P8 of demo/PROBLEMS.md --------------------------------------------


@pytest.fixture(scope="module")
def demo_site(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """The demo's seed at its smallest scale, once for the module (committed, then wiped)."""
    from blog.seed import wipe

    with django_db_blocker.unblock():
        call_command("seed", scale=0.01, seed=7, force=True, stdout=io.StringIO())
        try:
            yield
        finally:
            wipe()


@pytest.mark.django_db
@pytest.mark.urls("demosite.urls")
def test_the_demo_problems_p1_to_p8_are_found(
    demo_site: None, recorded: Callable[[], Store]
) -> None:
    from blog.models import Article

    client = Client()
    client.force_login(get_user_model().objects.get(username="demo"))
    author = Article.objects.filter(is_published=True).values_list("author__username")[0][0]
    slug = Article.objects.filter(is_published=True).values_list("slug")[0][0]
    for url in ("/", "/feed/", f"/profile/{author}/", f"/article/{slug}/"):
        assert client.get(url).status_code == 200, url
    store = recorded()
    run = store.run("test")
    assert run is not None
    findings = NPlusOneAnalyzer().analyze(AnalysisContext(store, run)).findings
    fixes = {(f.id, f.obj, f.fix.code) for f in findings}
    preview = "demo/blog/templates/blog/includes/article_preview.html"
    expected_n001 = {
        "P1": ("blog.Article.author", '.select_related("author")'),
        "P2": ("auth.User.profile", '.select_related("author__profile")'),
        "P3": (
            "blog.Article.comments",
            '.annotate(comments_count=Count("comments", distinct=True))',
        ),
        "P4": ("blog.Article.tags", '.prefetch_related("tags")'),
    }
    for problem, (obj, code) in expected_n001.items():
        assert ("pareto.N001", obj, code) in fixes, problem
    (p1,) = [
        f
        for f in findings
        if f.obj == "blog.Article.author" and f.evidence["callsite"] == f"{preview}:4 in <template>"
    ]
    assert "GET /" in p1.endpoints
    assert p1.fix.location == "demo/blog/views.py:47"  # where _mark_favorites reads the page
    by_obj = {(f.id, f.obj, f.evidence.get("kind")): f for f in findings}
    p5 = by_obj["pareto.N001", "blog.Article.favorited_by", "exists"]
    assert p5.fix.code == (
        ".annotate(has_favorited_by=Exists(Article.favorited_by.through.objects"
        '.filter(article=OuterRef("pk"), user=...)))'
    )
    assert "blog/views.py" in p5.evidence["callsite"]
    p6 = by_obj["pareto.N001", "blog.Article.comments", "prefetch_bypassed"]
    assert 'Prefetch("comments", queryset=Comment.objects.select_related("author")' in (
        p6.fix.code or ""
    )
    assert "profile_detail" in p6.evidence["callsite"]
    assert ("pareto.N002", "blog.Profile", None) in fixes  # P7: viewer_profile twice
    assert ("pareto.N002", "blog.Tag", None) in fixes  # P8: popular_tags twice
