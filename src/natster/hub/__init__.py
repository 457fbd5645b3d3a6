"""The hub: operator-mode nats-server, its accounts, and the account service.

``process`` runs nats-server, ``accounts`` makes and edits accounts, ``entry`` lets
people in (invites, the doorstep, sign-in pages), ``cluster`` makes a hub of several
nodes; ``state`` is the hub's directory, ``tls`` its certificates, and ``runner``
starts and stops a node's hub as one.
"""

from natster.hub.entry.invites import Invite, mint_invite, mint_short_invite
from natster.hub.process.binary import find_nats_server
from natster.hub.runner import Hub, HubInfo, HubOptions, rotate
from natster.hub.state import HubDir

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
