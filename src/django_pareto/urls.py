"""The staff-only dashboard: ``path("pareto/", include("django_pareto.urls"))``."""

from __future__ import annotations

from django.urls import path, register_converter

from django_pareto.dashboard import views
from django_pareto.dashboard.converters import RunNameConverter

app_name = "django_pareto"

register_converter(RunNameConverter, "pareto_run")

urlpatterns = [
    path("", views.runs_list, name="runs"),
    path("runs/<pareto_run:name>/", views.run_detail, name="run"),
    path("runs/<pareto_run:name>/report.html", views.run_report, name="run_report"),
    path("runs/<pareto_run:name>/delete/", views.delete_run, name="delete_run"),
    path("compare/", views.compare, name="compare"),
]
