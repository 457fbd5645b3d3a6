"""Tickets: a receiver's single-use admission to a catalog server's direct endpoint.

The catalog server issues one per transfer, bound to the receiver's account, the
transfer (and so its file) and an expiry of seconds, and hands it to the receiver in
the transfer's answer, which only the receiver sees (it came through the hub, which
knows who asked). The endpoint's auth callout redeems it once: the holder must also
prove the account (a user JWT that account issued, and the ticket signed with that
user's key).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from natster import limits
from natster.errors import Refused

__all__ = ["Ticket", "TicketBook"]


@dataclass(frozen=True)
class Ticket:
    secret: str  # what the receiver presents (auth_token): 32 random bytes, urlsafe
    account: str  # the receiver's account
    transfer: str  # the transfer it may read
    expires_at: float  # time.time()


class TicketBook:
    """Tickets issued and not yet redeemed (or expired), bounded in number."""

    def __init__(self, ttl: float = limits.DIRECT_TICKET_S) -> None:
        self._ttl = ttl
        self._open: dict[str, Ticket] = {}

    def issue(self, account: str, transfer: str) -> Ticket:
        self._forget_expired()
        if len(self._open) >= limits.DIRECT_TICKETS_MAX:
            raise Refused("too many direct transfers waiting to begin: try again", 429)
        ticket = Ticket(secrets.token_urlsafe(32), account, transfer, time.time() + self._ttl)
        self._open[ticket.secret] = ticket
        return ticket

    def redeem(self, secret: str) -> Ticket:
        """The ticket, once: a second time, an unknown or an expired one is refused."""
        ticket = self._open.pop(secret, None)
        if ticket is None:
            raise Refused("no such ticket (used, expired, or never issued)", 403)
        if ticket.expires_at <= time.time():
            raise Refused("no such ticket (used, expired, or never issued)", 403)
        return ticket

    def revoke(self, transfer: str) -> None:
        """Tickets for ``transfer`` are no longer good (it ended, or was unshared)."""
        for secret in [s for s, t in self._open.items() if t.transfer == transfer]:
            del self._open[secret]

    def _forget_expired(self) -> None:
        now = time.time()
        for secret in [s for s, t in self._open.items() if t.expires_at <= now]:
            del self._open[secret]
