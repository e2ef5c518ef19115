"""django-cacheops: every op of every model cached (its equivalent of MODE "all").

cacheops talks to Redis itself (not through Django's cache); CACHEOPS_PREFIX gives its
keys the run's prefix like Django's KEY_PREFIX does for the others.
"""

from __future__ import annotations

from typing import Any

from cachebench.settings.base import *  # noqa: F403
from cachebench.settings.base import INSTALLED_APPS, KEY_PREFIX, REDIS_URL

INSTALLED_APPS = [*INSTALLED_APPS, "cacheops"]
CACHEOPS_REDIS = REDIS_URL
CACHEOPS = {"*.*": {"ops": "all", "timeout": 300}}


def _prefix(query: Any) -> str:
    return KEY_PREFIX + ":"


CACHEOPS_PREFIX = _prefix
