"""The test project's URLs plus a view whose route and SQL carry markup (the XSS tests)."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import re_path

from tests.testapp.urls import urlpatterns as testapp_urlpatterns

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
PAYLOAD = SCRIPT + IMG


def markup_in_sql(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        # A quoted identifier may hold anything; its quotes are doubled inside it.
        cursor.execute('SELECT 1 AS "{}"'.format(PAYLOAD.replace('"', '""')))
    return HttpResponse("ok")


urlpatterns = [
    # A route is code, not input; still, what a route can hold reaches the pages too.
    re_path(r"^markup/<script>alert.1.</script>/$", markup_in_sql),
    *testapp_urlpatterns,
]
