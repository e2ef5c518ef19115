"""Settings for the test suite: SQLite always, PostgreSQL and Redis when reachable."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.services import postgres_available

BASE_DIR = Path(__file__).resolve().parent
# The demo site's app is installed too; make it importable wherever these settings load
# (pytest, mypy's Django plugin).
if str(BASE_DIR.parent / "demo") not in sys.path:
    sys.path.append(str(BASE_DIR.parent / "demo"))
SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost"]
USE_TZ = True
ROOT_URLCONF = "tests.testapp.urls"
# Django's live-server handler (pytest-django's live_server) fails every request without it.
STATIC_URL = "/static/"
LOGIN_URL = "/accounts/login/"  # where the dashboard sends anonymous users
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_pareto",
    "django_pareto.querycache",
    "tests.testapp",
    "tests.nplusone_app",  # small apps of their own for each analyzer's tests
    "tests.index_app",
    "tests.partial_app",
    "tests.cache_app",
    "tests.qc_app",
    "django.contrib.postgres",  # MirrorArrayField and GIN indexes in tests.denorm_app
    "django_pareto.denorm",
    "tests.denorm_app",
    "tests.denorm_advice_app",
    "blog",  # the demo site's app (demo/ is on sys.path), tested in tests/demo/
]

MIDDLEWARE = [
    "django_pareto.capture.middleware.ParetoMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "blog.context_processors.demo_fixes",
            ]
        },
    }
]

DATABASES: dict[str, dict[str, object]] = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "test.sqlite3"},
}
PG_DSN = dict(
    HOST=os.environ.get("PGHOST", "127.0.0.1"),
    PORT=os.environ.get("PGPORT", "5432"),
    USER=os.environ.get("PGUSER", "postgres"),
    PASSWORD=os.environ.get("PGPASSWORD", ""),
)
if postgres_available(PG_DSN):
    DATABASES["postgres"] = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "pareto_tests",
        **PG_DSN,
        # Parallel runs on one server need their own test database.
        "TEST": {"NAME": os.environ.get("PARETO_TEST_PG_NAME", "test_pareto_tests")},
    }

PARETO = {"STORE": str(BASE_DIR / ".pareto" / "tests.sqlite3")}

# The query cache's tests run on locmem by default and on Redis where they say so.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
