"""HTTP Range requests (RFC 9110 section 14) for the web player's seeking."""

from __future__ import annotations

import mimetypes
import posixpath
import re
from dataclasses import dataclass
from urllib.parse import quote

from natster import limits

# At most 18 digits a number (any file size fits): a longer one is not read, never
# converted (Python's int() refuses over 4,300 digits, and a peer's header is no reason
# to spend time on it). A header natster does not read means "the whole file".
_RANGE = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")

# Shown in the page; anything else is downloaded, never rendered on the UI's origin
# (a peer's HTML or SVG must not run script next to the session).
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif"})
INLINE_PREFIXES = ("video/", "audio/")
PLAIN_TEXT = frozenset({"text/plain", "text/markdown", "text/csv", "application/json"})


class RangeNotSatisfiable(Exception):
    """The Range header asks for bytes the file does not have."""


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # exclusive

    @property
    def length(self) -> int:
        return self.end - self.start

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end - 1}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range asked for, or None for the whole file.

    A header natster cannot read (several ranges, other units) is ignored, as RFC 9110
    allows: the whole file is sent. A range wholly past the end is not satisfiable.
    """
    if not header or len(header) > limits.RANGE_HEADER_MAX:
        return None
    match = _RANGE.match(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first == "":  # the last N bytes
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable
        return ByteRange(max(0, size - suffix), size) if size else None
    start = int(first)
    if start >= size:
        raise RangeNotSatisfiable
    end = size if last == "" else min(size, int(last) + 1)
    if end <= start:
        return None  # last before first: invalid, so ignored
    return ByteRange(start, end)


def presentation(path: str, mime: str | None) -> tuple[str, bool]:
    """(Content-Type, inline?) for a shared file: only safe types render in the page."""
    guessed = mime or mimetypes.guess_type(path)[0] or "application/octet-stream"
    if guessed in INLINE_TYPES or guessed.startswith(INLINE_PREFIXES):
        return guessed, True
    if guessed == "application/pdf":
        return guessed, True
    if guessed in PLAIN_TEXT or guessed.startswith("text/"):
        return "text/plain; charset=utf-8", True
    return "application/octet-stream", False


def disposition(path: str, inline: bool) -> str:
    """A Content-Disposition with the file's own name (RFC 6266, UTF-8 safe)."""
    name = posixpath.basename(path) or "download"
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
