"""Findings as the analyzers make them, for the fix tests."""

from __future__ import annotations

from django_pareto.analyze.base import Analyzer
from django_pareto.analyze.context import AnalysisContext
from django_pareto.analyze.findings import AddMirror, AnalyzerResult, Finding, Fix, IndexSpec
from django_pareto.doctor import Diagnosis

FEATURED = IndexSpec(
    app_label="pareto_fixapp",
    model="Article",
    table="pareto_fixapp_article",
    name="fixapp_featured_pub_idx",
    fields=("-published_at",),
    columns=("published_at",),
    condition="Q(is_featured=True)",
)
UPPER_TITLE = IndexSpec(
    app_label="pareto_fixapp",
    model="Article",
    table="pareto_fixapp_article",
    name="fixapp_upper_title_idx",
    expressions=('Upper("title")',),
)
CODE = IndexSpec(
    app_label="pareto_fixapp",
    model="Article",
    table="pareto_fixapp_article",
    name="fixapp_code_idx",
    fields=("code",),
    columns=("code",),
)
AUTH_USERNAME = IndexSpec(
    app_label="auth",
    model="User",
    table="auth_user",
    name="auth_user_upper_username_idx",
    expressions=('Upper("username")',),
    sql='CREATE INDEX "auth_user_upper_username_idx" ON "auth_user" (UPPER("username"))',
)


def add(spec: IndexSpec, saves: float = 100.0) -> Finding:
    return Finding(
        id="pareto.I001",
        title=f"Missing index {spec.name}",
        message="Sequential scan.",
        fix=Fix(summary=f"Add index {spec.name}", add_index=spec),
        savings_ms=saves,
    )


def drop(spec: IndexSpec) -> Finding:
    return Finding(
        id="pareto.X001",
        title=f"Unused index {spec.name}",
        message="Never read, updated on every write.",
        fix=Fix(summary=f"Drop index {spec.name}", remove_index=spec),
        savings_ms=10.0,
    )


NPLUSONE = Finding(
    id="pareto.N001",
    title="N+1 on Article.author",
    message="One query per article.",
    fix=Fix(
        summary="Add .select_related('author') to the queryset",
        code='Article.objects.select_related("author")',
        location="blog/views.py:42",
    ),
    savings_ms=500.0,
)


def diagnosis(*findings: Finding) -> Diagnosis:
    return Diagnosis(run="before", findings=list(findings))


EVERYTHING = diagnosis(NPLUSONE, add(FEATURED), add(UPPER_TITLE), drop(CODE), add(AUTH_USERNAME))


class Canned(Analyzer):
    """Reports EVERYTHING whatever the run: the doctor's output the fix tests start from."""

    name = "canned"
    ids = ("pareto.I001", "pareto.X001", "pareto.N001")

    def analyze(self, context: AnalysisContext) -> AnalyzerResult:
        return AnalyzerResult(findings=list(EVERYTHING.findings))


TAG_INFO = AddMirror(
    app_label="pareto_mirrorapp",
    model="Article",
    relation="tags",
    name="tag_info",
    fields=("name", "slug"),
    reads=("blog/views.py:12",),
)


def mirror(spec: AddMirror = TAG_INFO, saves: float = 80.0) -> Finding:
    return Finding(
        id="pareto.D001",
        title=f"Denormalize {spec.app_label}.{spec.model}.{spec.relation} into {spec.name}",
        message="Read through its through table on every list page.",
        fix=Fix(
            summary=f"Add {spec.name} to {spec.model}",
            code=f'{spec.name} = MirrorField("{spec.relation}")',
            location="pareto_mirrorapp/models.py:12",
            add_mirror=spec,
        ),
        savings_ms=saves,
    )
