"""The HTML report: one self-contained page (CSS, Chart.js, data inline) that opens offline.

It is rendered with a standalone template engine, so it works in any configured project,
whether or not ``django_pareto`` is in ``INSTALLED_APPS``. Data reaches the page only
through the autoescaping template and ``json_script``; the only text inserted unescaped
is the page's own CSS and JavaScript, which a Content-Security-Policy pins by hash.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.template import Context, Engine
from django.utils.safestring import SafeString, mark_safe

from django_pareto.report import page
from django_pareto.report.charts import chart_data, scale_curve

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
TEMPLATE = "django_pareto/report/report.html"
ASSETS = TEMPLATES / "django_pareto" / "report"
CHARTJS = Path(__file__).resolve().parent / "vendor" / "chart.umd.min.js"
# The source map is not shipped: without its comment no devtools goes looking for it.
_SOURCE_MAP = re.compile(r"\n//# sourceMappingURL=\S+\s*$")
QUERY_ROWS = 10  # shown open under the chart; the rest one click away


@functools.cache
def _engine() -> Engine:
    return Engine(dirs=[str(TEMPLATES)], autoescape=True)


@functools.cache
def assets() -> dict[str, str]:
    """The page's inline code: Chart.js, its own script and its stylesheet."""
    chartjs = _SOURCE_MAP.sub("\n", CHARTJS.read_text(encoding="utf-8"))
    found = {
        "chartjs": chartjs,
        "script": (ASSETS / "report.js").read_text(encoding="utf-8"),
        "style": (ASSETS / "report.css").read_text(encoding="utf-8"),
    }
    for name, text in found.items():
        # Inlined verbatim: a closing tag inside would end the element early.
        if re.search(r"</(script|style)", text, re.IGNORECASE):
            raise ValueError(f"{name} contains a closing </script> or </style> tag")
    return found


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def content_security_policy(inline: dict[str, str]) -> str:
    # Only the page's own script and style may run: should some text slip past escaping,
    # an injected <script> or onerror= would be refused. No network at all.
    return (
        f"default-src 'none'; script-src {_hash(inline['chartjs'])} {_hash(inline['script'])}; "
        f"style-src {_hash(inline['style'])}; img-src data:; base-uri 'none'; form-action 'none'"
    )


def render_report_html(
    report: dict[str, Any],
    diagnosis: dict[str, Any] | None = None,
    comparison: dict[str, Any] | None = None,
    scale: dict[str, Any] | None = None,
    title: str | None = None,
    *,
    notes: Sequence[str] = (),
) -> str:
    """The report of a run as one HTML document.

    ``report`` is ``api.report()``, ``diagnosis`` ``api.doctor(run).to_dict()``,
    ``comparison`` ``api.compare(a, b)``, ``scale`` a scalability sweep; ``notes`` are
    shown at the top (e.g. why there are no findings).
    """
    inline = assets()
    lat = report["latency_ms"]
    queries = page.query_rows(report)
    context = {
        "title": title or f"Where the time goes: run {report['run']}",
        "csp": content_security_policy(inline),
        "notes": list(notes),
        "report": report,
        "meta": page.meta_items(report),
        "cards": page.summary_cards(report),
        "bottleneck_share": page.fmt_pct(report["bottleneck"]["share"]),
        "endpoints": page.endpoint_rows(report),
        "top_endpoints": sum(1 for e in report["endpoints"] if e["in_top"]),
        "queries_head": queries[:QUERY_ROWS],
        "queries_tail": queries[QUERY_ROWS:],
        "top_queries": sum(1 for q in report["queries"] if q["in_top"]),
        "latency": {key: page.fmt_ms(lat[key]) for key in ("p50", "p95", "p99", "max")},
        "charts": chart_data(report, comparison, scale),
        "diagnosis": diagnosis,
        "findings": page.finding_items(diagnosis) if diagnosis else [],
        "analyzer_notes": page.analyzer_notes(diagnosis) if diagnosis else [],
        "comparison": comparison,
        "comparison_rows": page.comparison_rows(comparison) if comparison else [],
        **_scale_context(scale),
        # Our own code, read from the package: the only unescaped text of the page.
        **{name: _trusted(text) for name, text in inline.items()},
    }
    return _engine().get_template(TEMPLATE).render(Context(context))


def render_scale_html(
    scale: dict[str, Any], *, run: str, created_at: float, title: str | None = None
) -> str:
    """The page of a run kept by ``pareto scale`` (``scale``: ScaleResult.to_json()): the
    scalability section alone, since such a run holds no requests to report."""
    inline = assets()
    settings = scale.get("settings") or {}
    context = {
        "title": title or f"Scalability: run {run}",
        "csp": content_security_policy(inline),
        "notes": [],
        "scale_only": True,
        "report": {
            "run": run,
            "created_at": datetime.fromtimestamp(created_at, UTC).isoformat(),
            "faults": 0,
        },
        "meta": [("source", "pareto scale")]
        + [(str(key), _setting(value)) for key, value in sorted(settings.items())],
        "charts": {"scale": scale_curve(scale)} if scale.get("points") else {},
        **_scale_context(scale),
        **{name: _trusted(text) for name, text in inline.items()},
    }
    return _engine().get_template(TEMPLATE).render(Context(context))


def _scale_context(scale: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "scale": scale,
        "scale_facts": page.scale_facts(scale) if scale else {},
        "scale_points": page.scale_points(scale) if scale else [],
        "scale_utilization": _utilization(scale),
    }


def _setting(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _trusted(text: str) -> SafeString:
    return mark_safe(text)  # the package's own CSS and JS, never data


def _utilization(scale: dict[str, Any] | None) -> str:
    bottleneck = (scale or {}).get("bottleneck") or {}
    value = bottleneck.get("utilization")
    return "" if value is None else page.fmt_pct(value, 0)
