"""``{% cachefragment timeout name [vary_on ...] %}``: Django's ``{% cache %}``, except that
the fragment is dropped as soon as a table it read is written."""

from __future__ import annotations

import hashlib
from typing import Any

from django import template
from django.template.base import FilterExpression, NodeList, Parser, Token
from django.template.context import Context
from django.utils.safestring import mark_safe

from django_pareto.querycache import metrics, pages, runtime

register = template.Library()


class CacheFragmentNode(template.Node):
    def __init__(
        self,
        nodelist: NodeList,
        timeout: FilterExpression,
        name: str,
        vary_on: list[FilterExpression],
    ) -> None:
        self.nodelist = nodelist
        self.timeout = timeout
        self.name = name
        self.vary_on = vary_on

    def render(self, context: Context) -> str:
        rt = runtime.get()
        if rt is None:
            return self.nodelist.render(context)
        try:
            seconds = float(self.timeout.resolve(context))
        except (TypeError, ValueError) as exc:
            raise template.TemplateSyntaxError(
                f"cachefragment: timeout {self.timeout.token!r} is not a number"
            ) from exc
        vary = repr([v.resolve(context) for v in self.vary_on])
        digest = hashlib.blake2b(vary.encode(), digest_size=12).hexdigest()
        prefix = f"{rt.settings.KEY_PREFIX}:f:{self.name}"
        key, learned_key = f"{prefix}:{digest}", f"{prefix}:tables"
        try:
            from django.db import connection

            if not rt.usable(connection):
                return self.nodelist.render(context)
            cached, state = pages.lookup(rt, key, learned_key)
        except Exception:
            metrics.count("faults")
            return self.nodelist.render(context)
        if cached is not None:
            # It is the output of this very template, escaped when it was rendered.
            return str(mark_safe(cached))
        html: str = pages.render(
            rt, state, lambda: self.nodelist.render(context), learned_key, lambda _: key, seconds
        )
        return html


@register.tag("cachefragment")
def do_cachefragment(parser: Parser, token: Token) -> CacheFragmentNode:
    bits = token.split_contents()
    if len(bits) < 3:
        raise template.TemplateSyntaxError(
            f"'{bits[0]}' takes at least two arguments: a timeout and a fragment name"
        )
    nodelist = parser.parse(("endcachefragment",))
    parser.delete_first_token()
    name = bits[2].strip("\"'")
    return CacheFragmentNode(
        nodelist, parser.compile_filter(bits[1]), name, [parser.compile_filter(b) for b in bits[3:]]
    )


__all__: list[Any] = ["register"]
