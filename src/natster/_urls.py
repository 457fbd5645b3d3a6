"""A hub's address: one URL, or a cluster's, comma-separated (as the ``nats`` CLI takes them)."""

from __future__ import annotations

from urllib.parse import urlsplit

from natster.errors import ConnectionFailed


def split_urls(url: str) -> list[str]:
    """A hub's URLs: one, or a node's each, comma-separated (all of one scheme)."""
    urls = [part.strip() for part in url.split(",") if part.strip()]
    if not urls or len({urlsplit(u).scheme for u in urls}) != 1:
        raise ConnectionFailed(f"not a hub address: {url!r}")
    return urls
