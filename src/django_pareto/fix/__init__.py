"""Fix: findings become migrations (index changes) and code hints (everything else)."""

from __future__ import annotations

from django_pareto.fix.plan import (
    CodeHint,
    FixError,
    FixPlan,
    PlannedMigration,
    Skipped,
    plan_fixes,
)
from django_pareto.fix.writer import RenderedMigration, render_migrations, write_migrations

__all__ = [
    "CodeHint",
    "FixError",
    "FixPlan",
    "PlannedMigration",
    "RenderedMigration",
    "Skipped",
    "plan_fixes",
    "render_migrations",
    "write_migrations",
]
