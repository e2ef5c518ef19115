"""The dashboard's pages. Every view is staff only, never recorded, and answers a store
that cannot be read with a 503 page saying why (``dashboard_page``).

The pages only read the store through ``django_pareto.api``, as the CLI does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_safe

from django_pareto import api
from django_pareto.capture.middleware import no_capture
from django_pareto.dashboard.access import staff_required
from django_pareto.report.compare import COLUMNS
from django_pareto.store import StoreError
from django_pareto.store.records import RunInfo

TEMPLATES = "django_pareto/dashboard/"
# The pages load nothing from elsewhere and run no script: a policy that says so turns
# any markup that slipped through escaping into inert text.
CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
# A ratio (before / after) this far from 1 is a change, not noise (as in the terminal table).
CHANGE = 1.1


def dashboard_page(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Staff only (checked before the store is touched), never recorded, never cached."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            response = view(request, *args, **kwargs)
        except StoreError as exc:
            response = _error(request, 503, "The store cannot be read", str(exc))
        add_never_cache_headers(response)  # run data is for staff: no shared cache keeps it
        return response

    return no_capture(staff_required(wrapped))


def _error(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    context = {"title": title, "message": message}
    response = render(request, TEMPLATES + "error.html", context, status=status)
    response["Content-Security-Policy"] = CSP
    return response


def _page(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    # Read here rather than by the context processor, which a project may not have.
    context = {**context, "dashboard_messages": messages.get_messages(request)}
    response = render(request, TEMPLATES + template, context)
    response["Content-Security-Policy"] = CSP
    return response


def _run_or_404(name: str) -> RunInfo:
    run = api.store().run(name)
    if run is None:
        raise Http404("no run of this name in the store")
    return run


@dashboard_page
@require_safe
def runs_list(request: HttpRequest) -> HttpResponse:
    runs = [_run_row(run) for run in reversed(api.runs())]  # newest first
    names = [run["name"] for run in runs if not run["scale"]]  # what can be compared
    # Preselected: the run before the newest, and the newest.
    before, after = (names[1], names[0]) if len(names) > 1 else ("", "")
    context = {"runs": runs, "run_names": names, "before": before, "after": after}
    return _page(request, "runs.html", context)


@dashboard_page
@require_safe
def run_detail(request: HttpRequest, name: str) -> HttpResponse:
    run = _run_or_404(name)
    if api.is_scale_run(run):
        return _page(request, "scale_run.html", {"run": _run_row(run), **_scale(api.report(name))})
    report = api.report(name)
    diagnosis = api.doctor(name)
    context = {
        "run": _run_row(run),
        "report": report,
        "availability_pct": report["availability"] * 100,
        "bottleneck_pct": report["bottleneck"]["share"] * 100,
        "endpoints": _with_percents(report["endpoints"], "share", "cumulative_share", "db_share"),
        "queries": _with_percents(report["queries"], "share", "cumulative_share"),
        "findings": [_finding(f.to_dict()) for f in diagnosis.findings],
        "notes": [(analyzer, note) for analyzer, ns in diagnosis.notes.items() for note in ns],
    }
    return _page(request, "run.html", context)


@dashboard_page
@require_safe
def run_report(request: HttpRequest, name: str) -> HttpResponse:
    run = _run_or_404(name)
    # Imported here: the renderer and its vendored chart library are only loaded by the
    # one page that needs them.
    from django_pareto.report.html import render_report_html

    if api.is_scale_run(run):
        html = api.report_page(name)  # the scalability section alone
    else:
        html = render_report_html(
            api.report(name), diagnosis=api.doctor(name).to_dict(), scale=api.scale_result()
        )
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    # The page pins its own scripts by hash in a <meta> policy; a header adds what a
    # <meta> policy cannot say (no framing) and leaves scripts to the page's policy.
    response["Content-Security-Policy"] = "frame-ancestors 'none'"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@dashboard_page
@require_safe
def compare(request: HttpRequest) -> HttpResponse:
    before, after = request.GET.get("a", ""), request.GET.get("b", "")
    if not before or not after:
        return _error(request, 400, "Pick two runs", "Choose a run before and a run after.")
    _run_or_404(before)
    _run_or_404(after)
    try:
        data = api.compare(before, after)
    except api.NotARunOfRequests as exc:
        return _error(request, 400, "Pick two runs of requests", str(exc))
    rows = [{"endpoint": "total", **data["total"]}, *data["endpoints"]]
    context = {
        "before": before,
        "after": after,
        "run_names": [run.name for run in reversed(api.runs()) if not api.is_scale_run(run)],
        "columns": [heading for _, heading, _ in COLUMNS],
        "rows": [_comparison_row(row) for row in rows],
    }
    return _page(request, "compare.html", context)


@dashboard_page
@require_http_methods(["GET", "HEAD", "POST"])
@csrf_protect  # also where a project runs without CsrfViewMiddleware
def delete_run(request: HttpRequest, name: str) -> HttpResponse:
    run = _run_or_404(name)
    if request.method != "POST":
        return _page(request, "confirm_delete.html", {"run": _run_row(run)})
    api.delete_run(name)
    messages.success(request, f"Run {name!r} was deleted.", fail_silently=True)
    return redirect("django_pareto:runs")


# -- what the templates show ------------------------------------------------------------------
def _run_row(run: RunInfo) -> dict[str, Any]:
    scale = api.is_scale_run(run)
    kept = run.meta.get("scale") if scale else None
    points = kept.get("points") if isinstance(kept, dict) else None
    return {
        "name": run.name,
        "created": datetime.fromtimestamp(run.created_at, UTC),
        "requests": run.requests,
        "faults": run.faults,
        "source": str(run.meta.get("source", "live")),
        # A ``pareto scale`` result holds no requests: the worker counts it measured instead.
        "scale": scale,
        "workers": sorted(p["workers"] for p in points or [] if isinstance(p, dict)),
        # A scale result is shown by its own page, not as one line of JSON.
        "meta": sorted(
            (str(k), _text(v)) for k, v in run.meta.items() if not (scale and k == "scale")
        ),
    }


def _scale(data: dict[str, Any]) -> dict[str, Any]:
    """What the page of a ``pareto scale`` result shows (``data``: ScaleResult.to_json())."""
    neck = data.get("bottleneck") or {}
    utilization = neck.get("utilization")
    return {
        "objective_ms": (data.get("objective") or {}).get("p95_ms"),
        "points": sorted(data.get("points") or [], key=lambda p: p["workers"]),
        "usl": data.get("usl"),
        "usl_error": data.get("usl_error"),
        "bottleneck": neck,
        "utilization_pct": None if utilization is None else utilization * 100,
        "scale_settings": sorted(
            (str(k), ", ".join(map(str, v)) if isinstance(v, list) else str(v))
            for k, v in (data.get("settings") or {}).items()
        ),
    }


def _with_percents(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return [{**row, **{f"{key}_pct": row[key] * 100 for key in keys}} for row in rows]


def _finding(finding: dict[str, Any]) -> dict[str, Any]:
    return {**finding, "evidence_text": json.dumps(finding["evidence"], indent=2, default=str)}


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _comparison_row(row: dict[str, Any]) -> dict[str, Any]:
    before, after, ratios = row["before"], row["after"], row["ratio"]
    cells = []
    for metric, _, fmt in COLUMNS:
        ratio = ratios[metric]
        cells.append(
            {
                "before": "-" if before is None else fmt.format(before[metric]),
                "after": "-" if after is None else fmt.format(after[metric]),
                "ratio": "-" if ratio is None else f"{ratio:.2f}x",
                "change": _change(ratio),
            }
        )
    requests = [side["requests"] if side else 0 for side in (before, after)]
    return {"endpoint": row["endpoint"], "requests": requests, "cells": cells}


def _change(ratio: float | None) -> str:
    if ratio is None:
        return ""
    return "better" if ratio >= CHANGE else "worse" if ratio <= 1 / CHANGE else ""
