"""A third-party style analyzer, registered the way the built-ins are."""

from __future__ import annotations

from django_pareto.analyze.base import Analyzer
from django_pareto.analyze.context import AnalysisContext
from django_pareto.analyze.findings import AnalyzerResult, Finding, Fix


class CountPerTable(Analyzer):
    """Flags every table a run queried, saving its total time (a test double of a real one)."""

    name = "count-per-table"
    ids = ("tests.T001",)

    def analyze(self, context: AnalysisContext) -> AnalyzerResult:
        totals: dict[str, float] = {}
        for row in context.request_queries:
            for table in row.tables:
                totals[table] = totals.get(table, 0.0) + row.total_ms * row.weight
        result = AnalyzerResult(notes=[f"{len(context.requests)} requests read"])
        for table, total in totals.items():
            result.findings.append(
                Finding(
                    id="tests.T001",
                    title=f"queries on {table}",
                    message=f"{table} took {total:.0f} ms",
                    fix=Fix(summary="nothing to do"),
                    savings_ms=total,
                    obj=table,
                )
            )
        return result
