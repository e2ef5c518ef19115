"""Plain Django: no query cache. The control."""

from __future__ import annotations

from cachebench.settings.base import *  # noqa: F403
