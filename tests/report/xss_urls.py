"""Routes and SQL that carry script payloads into a recorded run, for the HTML report's tests.

Each payload reaches the store the way a hostile or careless project could put it there: a
``re_path`` route (stored as the endpoint), a quoted SQL alias (kept by the fingerprint).
"""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import re_path

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'


def aliased(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT 1 AS "{SCRIPT}"')
        cursor.execute('SELECT 2 AS "{}"'.format(IMG.replace('"', '""')))  # "" escapes a quote
    return HttpResponse("ok")


urlpatterns = [
    re_path(r"^x/<script>alert\(1\)</script>/$", aliased),
    re_path(r'^y/"><img src=x onerror=alert\(1\)>/$', aliased),
]

# The same routes as a workload requests them (percent-encoded, as a browser sends them).
PATHS = ("/x/%3Cscript%3Ealert(1)%3C/script%3E/", "/y/%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E/")
