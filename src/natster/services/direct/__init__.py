"""A catalog server's direct endpoint: transfers served on this machine's own addresses,
so bytes need not cross the hub when the receiver can reach them (docs/architecture.md,
"Direct transfers").

``tickets``: single-use admissions the catalog server gives a receiver through the hub;
``endpoint``: the standalone nats-server that admits ticket holders by auth callout.
"""

from .endpoint import DirectEndpoint, direct_endpoint, ticket_login
from .tickets import Ticket, TicketBook

__all__ = ["DirectEndpoint", "Ticket", "TicketBook", "direct_endpoint", "ticket_login"]
