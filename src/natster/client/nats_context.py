"""``natster context export``: this machine's identity, as the `nats` CLI reads it.

A `nats` CLI context (``~/.config/nats/context/NAME.json``, or ``$XDG_CONFIG_HOME``'s)
naming the hub's URL, this machine's credentials file, the hub's CA, the inbox prefix
this user may read replies on (its JWT allows ``_INBOX_<its key>.>`` only), and that
TLS starts first (the hub sends nothing in the clear: docs/protocol.md, "TLS"), so
`nats --context NAME req natster.global.stats ''` works as this user, and nothing more
than this user may do.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from natster import subjects
from natster._fs import PUBLIC_MODE, write_atomic

from .context import Home

__all__ = ["export_context"]


def export_context(home: Home, name: str | None = None) -> tuple[str, Path]:
    """Write the context; its name and path."""
    context = home.load()
    name = name or "natster-" + (
        re.sub(r"[^a-z0-9_-]+", "-", context.name.lower()).strip("-") or "me"
    )
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        from natster.errors import ConfigError

        raise ConfigError("a context's name is letters, digits, '_' and '-' (64 at most)")
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    path = Path(config) / "nats" / "context" / f"{name}.json"
    body = {
        "description": f"natster: {context.name} on {context.url}",
        "url": context.url,
        "creds": str(home.creds_file.resolve()),
        "ca": str(home.ca_file.resolve()) if home.ca_file.exists() else "",
        "inbox_prefix": subjects.inbox_of(context.user),
        "tls_first": True,  # as `nats --tlsfirst`: the hub starts with the TLS handshake
    }
    write_atomic(path, json.dumps(body, indent=2) + "\n", PUBLIC_MODE)  # names, no secret
    return name, path
