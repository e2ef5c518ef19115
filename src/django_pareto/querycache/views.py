"""``@cache_view``: a page cache invalidated when any table the page read is written."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template.response import SimpleTemplateResponse
from django.utils.cache import get_cache_key, learn_cache_key

from django_pareto.querycache import metrics, pages, runtime


def cache_view(
    view: Callable[..., HttpResponse] | None = None, *, timeout: float | None = None
) -> Any:
    """Cache a view's responses per URL and ``Vary`` headers (like Django's
    ``cache_page``), and drop them as soon as a table the view read is written.

    Only GET and HEAD responses with status 200 that set no cookie and are not
    ``Cache-Control: private`` are stored; no caching headers are added to the response,
    since the page may change at any time.
    """

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        name = f"{view.__module__}.{view.__qualname__}"
        digest = hashlib.blake2b(name.encode(), digest_size=8).hexdigest()

        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            rt = runtime.get()
            if rt is None or request.method not in ("GET", "HEAD"):
                return view(request, *args, **kwargs)
            seconds = timeout if timeout is not None else rt.settings.TIMEOUT
            prefix = f"{rt.settings.KEY_PREFIX}:v:{digest}"
            learned_key = f"{prefix}:tables"
            try:
                if not rt.usable(_default_connection()):
                    return view(request, *args, **kwargs)
                key = get_cache_key(request, prefix, "GET", cache=rt.cache)
                cached, state = pages.lookup(rt, key, learned_key)
            except Exception:
                metrics.count("faults")
                return view(request, *args, **kwargs)
            if cached is not None:
                return cached  # type: ignore[no-any-return]

            def produce() -> HttpResponse:
                response = view(request, *args, **kwargs)
                if isinstance(response, SimpleTemplateResponse) and not response.is_rendered:
                    response.render()  # its queries run now, while reads are collected
                return response

            def key_for(response: HttpResponse) -> str | None:
                if not _storable(response):
                    return None
                return learn_cache_key(request, response, seconds, prefix, cache=rt.cache)

            return pages.render(rt, state, produce, learned_key, key_for, seconds)  # type: ignore[no-any-return]

        return wrapper

    return decorate(view) if view is not None else decorate


def _storable(response: HttpResponse) -> bool:
    return (
        response.status_code == 200
        and not response.streaming
        and not response.cookies
        and "private" not in response.get("Cache-Control", "")
        and "no-store" not in response.get("Cache-Control", "")
    )


def _default_connection() -> Any:
    from django.db import connection

    return connection
