"""The client API: one typed async API over NATS, under the CLI and the web UI.

Names are loaded on first use (PEP 562), so a command imports only what it calls:
``natster catalog ls`` never loads the hub code that ``join`` needs.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._client import NatsterClient, whoami
    from .context import Context, Home
    from .joining import join

__all__ = ["Context", "Home", "NatsterClient", "join", "whoami"]

_HOMES = {
    "NatsterClient": "._client",
    "whoami": "._client",
    "Context": ".context",
    "Home": ".context",
    "join": ".joining",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(home, __name__), name)
    globals()[name] = value
    return value
