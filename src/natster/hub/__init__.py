"""The hub: operator-mode nats-server, its accounts, and the account service."""

from .binary import find_nats_server
from .invites import Invite, mint_invite, mint_short_invite
from .runner import Hub, HubInfo, HubOptions, rotate
from .state import HubDir

__all__ = [
    "Hub",
    "HubDir",
    "HubInfo",
    "HubOptions",
    "Invite",
    "find_nats_server",
    "mint_invite",
    "mint_short_invite",
    "rotate",
]
