"""Call sites: the first frame of a query's stack that lies in the user's own code.

This runs for every recorded query, so the walk up the stack costs one dictionary lookup
per frame, keyed by the frame's file name (a string caches its hash; a code object does
not, and hashing one hashes its bytecode). A query run while a Django template renders (a
lazy queryset looped over, ``{{ article.author.name }}``) is placed at the template line
that caused it, which is where a repeated access is fixed.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path
from types import FrameType

import django
from django.template.base import Node

import django_pareto

CallSite = tuple[str, int, str]  # (file relative to the project, line, function)

_LIBRARY_ROOTS: tuple[str, ...] = tuple(
    sorted(
        {
            str(Path(p).resolve()) + os.sep
            for p in (
                sysconfig.get_paths()["stdlib"],
                sysconfig.get_paths()["purelib"],
                sysconfig.get_paths()["platlib"],
                os.path.dirname(django.__file__),
                os.path.dirname(django_pareto.__file__),
            )
        }
    )
)
_MAX_DEPTH = 200
_CACHE_LIMIT = 50_000
_TEMPLATE_NODE_RENDER = Node.render_annotated.__code__
_project_root = os.getcwd() + os.sep
# file name -> its name for display when it is the user's code, "" when it is a library's.
_user_files: dict[str, str] = {}


def _classify(filename: str) -> str:
    library = (
        filename.startswith("<")
        or filename.startswith(_LIBRARY_ROOTS)
        or os.path.realpath(filename).startswith(_LIBRARY_ROOTS)
    )
    name = "" if library else display_name(filename)
    if len(_user_files) >= _CACHE_LIMIT:
        _user_files.clear()
    _user_files[filename] = name
    return name


def display_name(filename: str) -> str:
    """Path relative to the project directory when it lies inside it."""
    return filename[len(_project_root) :] if filename.startswith(_project_root) else filename


def find(frame: FrameType | None = None) -> CallSite | None:
    """The innermost frame in user code above the caller, or None (e.g. a library query)."""
    return _walk(frame if frame is not None else sys._getframe(1))[0]


def _walk(f: FrameType | None) -> tuple[CallSite | None, int]:
    """The first call site from ``f`` up, and how many frames above ``f`` it was."""
    steps = 0
    while f is not None and steps < _MAX_DEPTH:
        site = _site_at(f)
        if site is not None:
            return site, steps
        f = f.f_back
        steps += 1
    return None, steps


# SQL text -> how many frames above find_for's caller its call site was, last time.
_depth_of: dict[str, int] = {}


def find_for(sql: str) -> CallSite | None:
    """``find()`` for the caller, remembering the depth per SQL text.

    Walking up with ``f_back`` makes Python build a frame object for every frame passed
    (about 1 µs each, ~7 Django frames per query). The same SQL is nearly always issued
    through the same ORM path, so its call site is at the same depth: jump there with
    ``sys._getframe`` (which builds only the frames asked for) and check that the frame is
    a call site and the one below it is not; otherwise walk and remember the new depth.
    """
    depth = _depth_of.get(sql)
    if depth is not None:
        candidate: FrameType | None
        below: FrameType | None
        try:
            candidate = sys._getframe(depth)
            below = sys._getframe(depth - 1)
        except ValueError:  # the stack is shallower than last time
            candidate = below = None
        if candidate is not None and below is not None and _site_at(below) is None:
            site = _site_at(candidate)
            if site is not None:
                return site
    site, steps = _walk(sys._getframe(1))
    if site is not None:
        if len(_depth_of) >= _CACHE_LIMIT:
            _depth_of.clear()
        _depth_of[sql] = 1 + steps  # counted from this frame, as sys._getframe counts
    return site


def _site_at(f: FrameType) -> CallSite | None:
    """The call site ``f`` is, if it is one: user code, or a node of a user's template."""
    code = f.f_code
    if code is _TEMPLATE_NODE_RENDER:
        return _template_site(f)
    filename = code.co_filename
    name = _user_files.get(filename)
    if name is None:
        name = _classify(filename)
    return (name, f.f_lineno, code.co_name) if name else None


def _template_site(frame: FrameType) -> CallSite | None:
    """The template file and line of the node being rendered in ``frame``."""
    node = frame.f_locals.get("self")
    origin = getattr(node, "origin", None)
    token = getattr(node, "token", None)
    name = getattr(origin, "name", None)
    if not isinstance(name, str) or token is None or name.startswith(_LIBRARY_ROOTS):
        return None  # a template of Django or of a library: keep walking to the user's code
    return (display_name(name), int(getattr(token, "lineno", 0) or 0), "<template>")
