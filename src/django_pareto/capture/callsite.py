"""Call sites: the first frame of a query's stack that lies in the user's own code.

Whether a code object belongs to the user is decided once per code object and cached, so
the walk up the stack costs a dictionary lookup per frame. A query run while a Django
template renders (a lazy queryset looped over, ``{{ article.author.name }}``) is placed at
the template line that caused it, which is where a repeated access is fixed.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path
from types import CodeType, FrameType

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
_TEMPLATE_NODE_RENDER = Node.render_annotated.__code__
_is_user: dict[CodeType, bool] = {}
_display_names: dict[str, str] = {}
_project_root = os.getcwd() + os.sep


def _user_code(code: CodeType) -> bool:
    flag = _is_user.get(code)
    if flag is None:
        filename = code.co_filename
        flag = not (
            filename.startswith("<")
            or filename.startswith(_LIBRARY_ROOTS)
            or os.path.realpath(filename).startswith(_LIBRARY_ROOTS)
        )
        if len(_is_user) > 50_000:
            _is_user.clear()
        _is_user[code] = flag
    return flag


def display_name(filename: str) -> str:
    """Path relative to the project directory when it lies inside it."""
    name = _display_names.get(filename)
    if name is None:
        name = filename[len(_project_root) :] if filename.startswith(_project_root) else filename
        _display_names[filename] = name
    return name


def find(frame: FrameType | None = None) -> CallSite | None:
    """The innermost frame in user code above the caller, or None (e.g. a library query)."""
    f: FrameType | None = frame if frame is not None else sys._getframe(1)
    depth = 0
    while f is not None and depth < _MAX_DEPTH:
        code = f.f_code
        if code is _TEMPLATE_NODE_RENDER:
            site = _template_site(f)
            if site is not None:
                return site
        elif _user_code(code):
            return (display_name(code.co_filename), f.f_lineno, code.co_name)
        f = f.f_back
        depth += 1
    return None


def _template_site(frame: FrameType) -> CallSite | None:
    """The template file and line of the node being rendered in ``frame``."""
    node = frame.f_locals.get("self")
    origin = getattr(node, "origin", None)
    token = getattr(node, "token", None)
    name = getattr(origin, "name", None)
    if not isinstance(name, str) or token is None or name.startswith(_LIBRARY_ROOTS):
        return None  # a template of Django or of a library: keep walking to the user's code
    return (display_name(name), int(getattr(token, "lineno", 0) or 0), "<template>")
