"""ASGI entry point of the demo site (e.g. ``uvicorn demosite.asgi:application`` from demo/)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demosite.settings")

application = get_asgi_application()
