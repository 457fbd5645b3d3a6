"""MIME types: the content decides when it can (a ``.bin`` that is an mp4 is video/mp4),
the extension when the content says nothing, then text or binary."""

from __future__ import annotations

import mimetypes

import filetype

_EXTRA = {
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".m4v": "video/mp4",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".flac": "audio/flac",
    ".opus": "audio/opus",
    ".ogg": "audio/ogg",
    ".md": "text/markdown",
    ".srt": "application/x-subrip",
    ".vtt": "text/vtt",
}
OCTET = "application/octet-stream"
SIGNATURE_BYTES = 512


def _by_extension(path: str) -> str | None:
    dot = path.rfind(".")
    if dot > path.rfind("/"):
        extra = _EXTRA.get(path[dot:].lower())
        if extra:
            return extra
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the end of the head is still text
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def sniff(path: str, head: bytes) -> str:
    """The MIME type of the file at ``path`` whose first bytes are ``head`` (no parameters)."""
    if head:
        # 512 bytes hold every media signature; filetype would otherwise search the whole
        # head for zipped documents, which costs more than hashing a small file.
        kind = filetype.guess_mime(head[:SIGNATURE_BYTES])
        if kind:
            return str(kind)
    by_name = _by_extension(path)
    if by_name and not (by_name.startswith("text/") and head and not _looks_like_text(head)):
        return by_name
    if _looks_like_text(head):
        return "text/plain"
    return OCTET if head or not by_name else by_name
