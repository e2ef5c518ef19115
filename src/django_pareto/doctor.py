"""The doctor: run every analyzer over a recorded run, rank findings by time saved."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django_pareto import conf
from django_pareto.analyze.base import load_analyzers
from django_pareto.analyze.context import AnalysisContext
from django_pareto.analyze.findings import Finding
from django_pareto.store.base import Store, StoreError

SCHEMA_VERSION = 1


@dataclass
class Diagnosis:
    run: str
    findings: list[Finding] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)  # analyzer name -> notes

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "run": self.run,
            "findings": [f.to_dict() for f in self.findings],
            "notes": self.notes,
        }


def diagnose(store: Store, run_name: str, analyzers: list[str] | None = None) -> Diagnosis:
    run = store.run(run_name)
    if run is None:
        raise StoreError(f"no run named {run_name!r} in {store.description}")
    context = AnalysisContext(store, run)
    diagnosis = Diagnosis(run=run_name)
    for analyzer in load_analyzers(analyzers or list(conf.get().ANALYZERS)):
        result = analyzer.analyze(context)
        diagnosis.findings.extend(result.findings)
        diagnosis.notes[analyzer.name] = result.notes
    # Pareto again: the fixes that save the most time first.
    diagnosis.findings.sort(key=lambda f: (-f.savings_ms, f.id, f.title))
    return diagnosis
