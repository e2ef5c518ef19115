"""Helpers shared by the demo-site tests."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.test import Client
from django.utils.crypto import get_random_string


def csrf_client(user: Any = None) -> Client:
    """A client that passes Django's real CSRF check the way a browser's JavaScript does."""
    client = Client(enforce_csrf_checks=True)
    token = get_random_string(32)
    client.cookies[settings.CSRF_COOKIE_NAME] = token
    client.defaults["HTTP_X_CSRFTOKEN"] = token
    if user is not None:
        client.force_login(user)
    return client


def normalized(sql: str) -> str:
    """SQL without identifier quotes, lower-cased: easy to search for a query's shape."""
    return " ".join(sql.replace('"', "").replace("`", "").lower().split())
