"""django_pareto.querycache, every ORM read cached (MODE "all"), as documented."""

from __future__ import annotations

from cachebench.settings.base import *  # noqa: F403
from cachebench.settings.base import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "django_pareto.querycache"]
PARETO_QUERYCACHE = {"CACHE": "default", "MODE": "all", "TIMEOUT": 300}
