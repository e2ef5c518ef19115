"""Find and load the Django project when ``pareto`` runs as a console script."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import click

_SETTINGS_IN_MANAGE = re.compile(r"""DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']""")


def configure_django(settings_module: str | None, pythonpath: str | None) -> None:
    """Like manage.py: the project directory on sys.path, the settings module, setup()."""
    import django

    project = Path(pythonpath or os.getcwd()).resolve()
    if str(project) not in sys.path:
        sys.path.insert(0, str(project))
    if settings_module:
        os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    elif not os.environ.get("DJANGO_SETTINGS_MODULE"):
        manage = project / "manage.py"
        found = _SETTINGS_IN_MANAGE.search(manage.read_text()) if manage.exists() else None
        if found is None:
            raise click.UsageError(
                "Which Django project? Run pareto next to manage.py, or pass --settings "
                "mysite.settings (or set DJANGO_SETTINGS_MODULE)."
            )
        os.environ["DJANGO_SETTINGS_MODULE"] = found.group(1)
    django.setup()
