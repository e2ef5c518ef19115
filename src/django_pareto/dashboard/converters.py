"""A URL converter for run names, which may contain any character, "/" included."""

from __future__ import annotations

from urllib.parse import unquote


class RunNameConverter:
    """One path segment that stands for any run name.

    ``reverse()`` percent-encodes what is unsafe in a URL but leaves "/" as it is, which
    would split the segment: "/" (and "%", to keep decoding exact) are encoded once more
    here, and the names "." and ".." too, which browsers would remove as dot segments.
    """

    regex = "[^/]+"

    def to_python(self, value: str) -> str:
        return unquote(value)

    def to_url(self, value: str) -> str:
        encoded = value.replace("%", "%25").replace("/", "%2F")
        return encoded.replace(".", "%2E") if encoded in {".", ".."} else encoded
