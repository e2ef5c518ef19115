"""The one extension point of analysis: a class per analyzer, registered by dotted path.

Built-in analyzers register exactly as a third-party one would, in ``PARETO["ANALYZERS"]``::

    from django_pareto.analyze.base import Analyzer
    from django_pareto.analyze.findings import AnalyzerResult, Finding, Fix

    class SlowCount(Analyzer):
        name = "slow-count"
        ids = ("myapp.S001",)

        def analyze(self, context):
            result = AnalyzerResult()
            for group in context.query_groups:
                if group.sql.startswith("SELECT COUNT(*)") and group.total_ms > 1000:
                    result.findings.append(Finding(
                        id="myapp.S001", title="Slow COUNT(*)", message=group.sql,
                        fix=Fix("Cache the count."), savings_ms=group.total_ms))
            return result
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from django_pareto.analyze.context import AnalysisContext
    from django_pareto.analyze.findings import AnalyzerResult

# The default of PARETO["ANALYZERS"].
BUILTIN_ANALYZERS: tuple[str, ...] = (
    "django_pareto.analyze.nplusone.NPlusOneAnalyzer",
    "django_pareto.analyze.indexes.MissingIndexAnalyzer",
    "django_pareto.analyze.overindex.OverIndexAnalyzer",
    "django_pareto.analyze.caching.CacheAnalyzer",
    "django_pareto.analyze.denormalize.DenormalizeAnalyzer",
)


class Analyzer:
    name: ClassVar[str] = ""
    ids: ClassVar[tuple[str, ...]] = ()  # the finding ids it can produce

    def analyze(self, context: AnalysisContext) -> AnalyzerResult:
        raise NotImplementedError


def load_analyzers(paths: tuple[str, ...] | list[str]) -> list[Analyzer]:
    """Instantiate the analyzers named by dotted paths, in order."""
    analyzers = []
    for path in paths:
        cls = import_string(path)
        if not (isinstance(cls, type) and issubclass(cls, Analyzer)):
            raise TypeError(f"{path} is not an Analyzer subclass")
        analyzers.append(cls())
    return analyzers
