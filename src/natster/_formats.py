"""The format of what natster keeps on disk: a hub directory's ``hub.json`` and a
``NATSTER_HOME``'s ``context.json`` say theirs. A newer natster brings an older one up
to date when it meets it (and says what it changed); an older natster meeting a newer
one refuses, in words, rather than misread it."""

from __future__ import annotations

import json

from natster import __version__
from natster.errors import ConfigError

HUB_FORMAT = 2  # 1: natster 0.1 (hub.json had no "format")
HOME_FORMAT = 2  # 1: natster 0.1 (context.json had no "format")


def format_of(raw: bytes) -> int:
    """The format a JSON file says it has (none: 1, the first)."""
    try:
        found = json.loads(raw).get("format", 1)
    except (ValueError, AttributeError):
        return 1  # damaged: its own validation says how
    return found if isinstance(found, int) else 1


def refuse_newer(found: int, ours: int, what: str) -> None:
    if found > ours:
        raise ConfigError(
            f"{what} was written by a newer natster (format {found}; natster {__version__} "
            f"reads format {ours} and older): upgrade natster to use it"
        )
