"""``natster context export``: this machine's identity, as the `nats` CLI reads it.

A `nats` CLI context (``~/.config/nats/context/NAME.json``, or ``$XDG_CONFIG_HOME``'s)
naming the hub's URL, this machine's credentials file, the hub's CA, the inbox prefix
this user may read replies on (its JWT allows ``_INBOX_<its key>.>`` only), and that
TLS starts first (no INFO in the clear either: docs/protocol.md, "TLS"), so
`nats --context NAME req natster.global.stats ''` works as this user, and nothing more
than this user may do.
"""

from __future__ import annotations

from pathlib import Path

from natster import subjects
from natster._contexts import context_name, write_context

from .context import Home

__all__ = ["export_context"]


def export_context(home: Home, name: str | None = None) -> tuple[str, Path]:
    """Write the context; its name and path."""
    context = home.load()
    name = name or context_name(context.name)
    body: dict[str, object] = {
        "description": f"natster: {context.name} on {context.url}",
        "url": context.url,
        "creds": str(home.creds_file.resolve()),
        "ca": str(home.ca_file.resolve()) if home.ca_file.exists() else "",
        "inbox_prefix": subjects.inbox_of(context.user),
        "tls_first": True,  # as `nats --tlsfirst`: not even INFO in the clear
    }
    return name, write_context(name, body)
