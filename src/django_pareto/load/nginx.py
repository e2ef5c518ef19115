"""The private nginx in front of gunicorn: finding the binary, and writing its configuration
from ``load/deploy/nginx.conf`` for the build at hand (its modules, its mime.types)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

NGINX_TEMPLATE = Path(__file__).resolve().parent / "deploy" / "nginx.conf"

# The few types a Django site's static files need, for an nginx without a mime.types file.
_MINIMAL_MIME_TYPES = """types {
    text/html html htm;
    text/css css;
    application/javascript js mjs;
    application/json json;
    image/svg+xml svg;
    image/png png;
    image/jpeg jpg jpeg;
    image/gif gif;
    image/webp webp;
    image/x-icon ico;
    font/woff woff;
    font/woff2 woff2;
    text/plain txt;
}
"""


def find_nginx() -> str | None:
    """The nginx executable: on PATH, or where Debian puts it (/usr/sbin is often not on a
    normal user's PATH)."""
    found = shutil.which("nginx")
    if found:
        return found
    fallback = Path("/usr/sbin/nginx")
    return str(fallback) if fallback.is_file() and os.access(fallback, os.X_OK) else None


def _nginx_build_info(nginx: str) -> str:
    done = subprocess.run([nginx, "-V"], capture_output=True, text=True, timeout=10, check=False)
    return done.stderr + done.stdout


def _render(template: str, values: Mapping[str, str]) -> str:
    """``{{name}}`` placeholders: nginx's own syntax uses both ``$name`` and ``{ }``, so
    neither string.Template nor str.format can fill an nginx file."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"no value for the placeholder {{{{{name}}}}}")
        return values[name]

    return re.sub(r"\{\{\s*(\w+)\s*\}\}", fill, template)


def render_nginx_conf(
    *,
    listen: str,
    upstream: str,
    prefix: str | Path,
    worker_processes: int | None = None,
    static_url: str | None = None,
    static_root: str | Path | None = None,
    mime_types: str | Path,
    access_log: bool = False,
    user: str | None = None,
    build_info: str = "",
) -> str:
    """The private nginx's configuration from load/deploy/nginx.conf.

    ``listen``: "127.0.0.1:8000"; ``upstream``: "unix:/path.sock" or "127.0.0.1:8001";
    ``mime_types``: the file of types to include (the distribution's mime.types);
    ``build_info``: the output of ``nginx -V``, to leave out temp paths of modules the build
    lacks (nginx-light has no uwsgi/scgi)."""
    prefix = Path(prefix)
    extra = [
        f"    {module}_temp_path {prefix}/{module};"
        for module in ("fastcgi", "uwsgi", "scgi")
        if f"--without-http_{module}_module" not in build_info
    ]
    static = ""
    if static_url and static_root and Path(static_root).is_dir() and "://" not in static_url:
        url = "/" + static_url.strip("/") + "/"
        static = (
            f"        location {url} {{\n"
            f"            alias {Path(static_root).resolve()}/;\n"
            "            expires 7d;\n"
            "            access_log off;\n"
            "        }\n"
        )
    values = {
        "user_directive": f"user {user};" if user else "",
        "worker_processes": str(worker_processes) if worker_processes else "auto",
        "prefix": str(prefix),
        "mime_types": str(mime_types),
        "access_log": f"{prefix}/access.log" if access_log else "off",
        "extra_temp_paths": "\n".join(extra),
        "upstream": upstream,
        "listen": listen,
        "static_location": static,
    }
    return _render(NGINX_TEMPLATE.read_text(), values)


def _mime_types_file(build_info: str, prefix: Path) -> Path:
    """The distribution's mime.types (next to the nginx.conf it was built for), or a minimal
    one written into the private prefix."""
    match = re.search(r"--conf-path=(\S+)", build_info)
    if match:
        candidate = Path(match.group(1)).parent / "mime.types"
        if candidate.is_file():
            return candidate
    path = prefix / "mime.types"
    path.write_text(_MINIMAL_MIME_TYPES)
    return path


def nginx_command(
    nginx_bin: str,
    prefix: Path,
    *,
    listen: str,
    upstream: str,
    worker_processes: int,
    static_url: str | None,
    static_root: str | None,
    access_log: bool,
) -> list[str]:
    """Write the private nginx's configuration into ``prefix`` (its own directory, which
    also holds its logs and temp files) and return the command that runs nginx with it."""
    build_info = _nginx_build_info(nginx_bin)
    # A root master would run its workers as "nobody", who cannot enter our private
    # (0700) run directory nor connect to the socket: keep them as the invoking user.
    user = "root" if os.geteuid() == 0 else None
    conf = render_nginx_conf(
        listen=listen,
        upstream=upstream,
        prefix=prefix,
        worker_processes=worker_processes,
        static_url=static_url,
        static_root=static_root,
        mime_types=_mime_types_file(build_info, prefix),
        access_log=access_log,
        user=user,
        build_info=build_info,
    )
    conf_path = prefix / "nginx.conf"
    conf_path.write_text(conf)
    return [
        nginx_bin,
        "-p",
        f"{prefix}/",
        "-c",
        str(conf_path),
        # The error log before the configuration is read (nginx >= 1.19.5): otherwise
        # the compiled-in /var/log/nginx/error.log, unwritable for a normal user.
        "-e",
        str(prefix / "error.log"),
    ]
