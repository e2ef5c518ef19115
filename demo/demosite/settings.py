"""Settings of the demo site: a publishing platform with the problems of a first version.

Environment:
- ``DATABASE_URL``: any URL dj-database-url understands (e.g. ``postgres://user@host/db``);
  without it the site uses SQLite in ``demo/db.sqlite3``.
- ``DJANGO_DEBUG``: ``1``/``true`` turns DEBUG on (default off).
- ``DJANGO_SECRET_KEY``: the secret key (a fixed demo key by default; never deploy it).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent  # the demo/ folder

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-insecure-secret-key-do-not-deploy")
DEBUG = os.environ.get("DJANGO_DEBUG", "").lower() in {"1", "true", "yes", "on"}
# The N+1 code fixes of PROBLEMS.md (blog/fixes.py): on, the demo shows the "after" state.
DEMO_N_PLUS_ONE_FIXED = os.environ.get("DEMO_FIXED", "").lower() in {"1", "true", "yes", "on"}
# With DEMO_FIXED, Article declares the copies `pareto fix` wrote migrations for
# (blog/mirrors.py); DEMO_MIRRORS=0 leaves them out (a database without those columns).
DEMO_MIRRORS = os.environ.get("DEMO_MIRRORS", "1").lower() not in {"0", "false", "no", "off"}
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_pareto",
    "django_pareto.querycache",  # used by the demo's fixes (DEMO_FIXED=1): P16
    "django_pareto.denorm",  # keeps the copies of pareto.D001's fix in sync (blog/mirrors.py)
    "blog",
]

MIDDLEWARE = [
    "django_pareto.capture.middleware.ParetoMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "demosite.urls"
WSGI_APPLICATION = "demosite.wsgi.application"

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
            ],
        },
    },
]

if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.config(conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": BASE_DIR / "db.sqlite3",
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"

LOGIN_URL = "blog:login"
LOGIN_REDIRECT_URL = "blog:home"
LOGOUT_REDIRECT_URL = "blog:home"

# The query cache needs a cache shared by every process: Redis when REDIS_URL is set;
# the demo's in-process replay is one process, for which locmem is enough.
if os.environ.get("REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
        }
    }
else:
    SILENCED_SYSTEM_CHECKS = ["pareto.W003"]  # locmem is right for one process

# django-pareto: recordings of this site are filed under the run name "demo" by default.
PARETO = {"RUN": "demo"}
