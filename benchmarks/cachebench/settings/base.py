"""Settings shared by every implementation: PostgreSQL and Redis from the environment."""

from __future__ import annotations

import os

SECRET_KEY = "cachebench-not-secret"
DEBUG = False  # DEBUG=True would keep every query in connection.queries
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "cachebench",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("CACHEBENCH_DB_NAME", "pareto_cachebench"),
        "HOST": os.environ.get("CACHEBENCH_DB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("CACHEBENCH_DB_PORT", "5432"),
        "USER": os.environ.get("CACHEBENCH_DB_USER", "postgres"),
        "PASSWORD": os.environ.get("CACHEBENCH_DB_PASSWORD", ""),
    }
}

# The Redis db of this implementation. A key prefix unique to the run keeps runs that
# share a Redis db (the test suite's) apart; the harness deletes its keys afterwards.
REDIS_URL = os.environ.get("CACHEBENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
KEY_PREFIX = os.environ.get("CACHEBENCH_KEY_PREFIX", "cachebench")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": KEY_PREFIX,
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
