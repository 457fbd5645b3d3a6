"""`nats` CLI contexts: where one lives and how it is written (names and paths, no secret).

A context is ``$XDG_CONFIG_HOME/nats/context/NAME.json`` (``~/.config`` without it): the
server URLs, a creds file's path, a CA file's path, and whether TLS starts first. Both
``natster context export`` (this machine's user) and ``natster hub context`` (the hub's
own accounts, for its operator) write them here.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from natster._fs import PUBLIC_MODE, write_atomic
from natster.errors import ConfigError

__all__ = ["context_name", "write_context"]

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def context_name(text: str) -> str:
    """``natster-`` and ``text`` as a context's name (lower case, dashes for the rest)."""
    return "natster-" + (re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-") or "me")


def write_context(name: str, body: dict[str, object]) -> Path:
    """Write context ``name`` (letters, digits, '_' and '-'); its path."""
    if not _NAME.fullmatch(name):
        raise ConfigError("a context's name is letters, digits, '_' and '-' (64 at most)")
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    path = Path(config) / "nats" / "context" / f"{name}.json"
    write_atomic(path, json.dumps(body, indent=2) + "\n", PUBLIC_MODE)  # names, no secret
    return path
