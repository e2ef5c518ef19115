"""WSGI entry point of the demo site (e.g. ``gunicorn demosite.wsgi`` from demo/)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demosite.settings")

application = get_wsgi_application()
