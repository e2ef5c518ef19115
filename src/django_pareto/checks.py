"""System checks (``python manage.py check``) for a site that uses django-pareto."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import connections

from django_pareto import conf

MIDDLEWARE_PATH = "django_pareto.capture.middleware.ParetoMiddleware"


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        pareto = conf.load()
    except (ImproperlyConfigured, TypeError, ValueError) as exc:
        return [Error(str(exc), hint="See docs/settings.md.", id="pareto.E002")]
    messages: list[CheckMessage] = []
    middleware = list(settings.MIDDLEWARE)
    if pareto.ENABLED and MIDDLEWARE_PATH not in middleware:
        messages.append(
            Error(
                "ParetoMiddleware is not in MIDDLEWARE, so no request is measured.",
                hint=f"Add {MIDDLEWARE_PATH!r} as the first entry of MIDDLEWARE.",
                id="pareto.E001",
            )
        )
    elif pareto.ENABLED and middleware[0] != MIDDLEWARE_PATH:
        messages.append(
            Warning(
                "ParetoMiddleware is not the first middleware: time spent in the middleware "
                "before it, and their queries, are not measured.",
                hint=f"Move {MIDDLEWARE_PATH!r} to the top of MIDDLEWARE.",
                id="pareto.W001",
            )
        )
    if pareto.ENABLED and settings.DEBUG:
        messages.append(
            Warning(
                "DEBUG is True: Django keeps every query in memory and renders slower, so the "
                "numbers measured will not be those of production.",
                hint="Measure with DEBUG = False.",
                id="pareto.W002",
            )
        )
    if pareto.STORE_ALIAS:
        if pareto.STORE_ALIAS not in connections:
            messages.append(
                Error(
                    f"PARETO['STORE_ALIAS'] is {pareto.STORE_ALIAS!r}, not a key of DATABASES.",
                    id="pareto.E003",
                )
            )
        elif connections[pareto.STORE_ALIAS].vendor != "postgresql":
            messages.append(
                Error(
                    "PARETO['STORE_ALIAS'] must name a PostgreSQL database.",
                    hint="Leave it unset to use the embedded SQLite store.",
                    id="pareto.E003",
                )
            )
    return messages
