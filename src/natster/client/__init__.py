"""The client API: one typed async API over NATS, under the CLI and the web UI."""

from .api import NatsterClient, whoami
from .context import Context, Home
from .join import join

__all__ = ["Context", "Home", "NatsterClient", "join", "whoami"]
