"""django-cachalot with its defaults (every ORM read of every table cached), 300 s timeout."""

from __future__ import annotations

from cachebench.settings.base import *  # noqa: F403
from cachebench.settings.base import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "cachalot"]
CACHALOT_CACHE = "default"
CACHALOT_TIMEOUT = 300
