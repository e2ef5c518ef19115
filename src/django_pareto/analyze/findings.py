"""Findings: what an analyzer tells the user, modeled on Django's ``CheckMessage``.

A finding has a stable id (``pareto.N001``), says what is wrong and where, carries the
evidence that justifies it and the concrete fix, and estimates the time the fix would
save over the analyzed run (the ranking key).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

WARNING = "warning"
INFO = "info"


@dataclass(frozen=True)
class IndexSpec:
    """An index as Django declares it in ``Meta.indexes`` (and as its SQL creates it)."""

    app_label: str
    model: str  # model class name, e.g. "Article"
    table: str
    name: str  # at most 30 characters (Django's limit for index names)
    fields: tuple[str, ...] = ()  # field names, "-published_at" for descending
    columns: tuple[str, ...] = ()  # the database columns, in order
    expressions: tuple[str, ...] = ()  # functional parts as Python, e.g. 'Upper("username")'
    condition: str | None = None  # partial index as a Q expression, e.g. 'Q(is_featured=True)'
    sql: str = ""  # CREATE INDEX statement for the database analyzed


@dataclass(frozen=True)
class AddMirror:
    """A copy of a many-to-many relation on its model (``django_pareto.denorm``), kept in sync.

    ``pareto fix`` writes it as ``AddField`` of a ``MirrorField`` (``MirrorArrayField`` when
    ``array``) and a ``BackfillMirror`` that fills the existing rows; the relation stays.
    """

    app_label: str
    model: str  # model class name, e.g. "Article"
    relation: str  # the many-to-many field it copies, e.g. "tags"
    name: str  # the new field, e.g. "tag_ids" ("tag_info" when fields are copied too)
    fields: tuple[str, ...] = ()  # fields of the related rows copied beside their ids
    array: bool = False  # a PostgreSQL array of pks instead of a JSON list
    gin_index: str | None = None  # name of a GinIndex on the copy (PostgreSQL filters by it)
    reads: tuple[str, ...] = ()  # "file:line" of the reads the copy replaces


@dataclass(frozen=True)
class Fix:
    """What to change: a line of code, a migration operation, or both."""

    summary: str  # one sentence, imperative: "Add .select_related('author') to ..."
    code: str | None = None  # the exact code to write
    location: str | None = None  # "file:line" where to write it
    add_index: IndexSpec | None = None
    remove_index: IndexSpec | None = None
    add_mirror: AddMirror | None = None


@dataclass(frozen=True)
class Finding:
    id: str  # "pareto.N001"
    title: str  # short: "N+1 on Article.author"
    message: str  # what happens and why it costs, in a sentence or two
    fix: Fix
    savings_ms: float  # estimated time saved over the run (weighted by sampling)
    evidence: dict[str, Any] = field(default_factory=dict)
    endpoints: tuple[str, ...] = ()
    obj: str | None = None  # what it is about: "blog.Article.author", "auth_user (username)"
    level: str = WARNING

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AnalyzerResult:
    """Findings of one analyzer, and why it flagged nothing where it looked."""

    findings: list[Finding] = field(default_factory=list)
    # e.g. "blog_category (code): not indexed: the table has 5 rows"
    notes: list[str] = field(default_factory=list)
