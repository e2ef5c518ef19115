"""The staff-only dashboard: runs, reports, findings and comparisons in the browser.

Enable it with ``path("pareto/", include("django_pareto.urls"))``; see docs/dashboard.md.
"""
