"""Sign-in pages: guests of the hub in an account of their own, one connection each.

A browser's sign-in page (the hub's web app, ``/signin/guest``) gets a guest JWT for a
key it made: a user of the *signin* account, which may ask the global service's
``signin.offer`` and ``signin.wait`` and read its own inbox, nothing else, for a few
minutes. The signin account's key is made again from the operator signing key (as the
doorstep's), so it needs no file. Invite holders connect to the ``signup`` account:
however many guests come, they never fill the pool people join from.

nats-server limits connections per account, not per user. The warden watches the
signin account's connect events (from the system account) and kicks a guest's second
connection, and each one past ``limits.GUESTS_PER_ADDRESS`` from one address (an IPv6
address counts by its /64): one guest token holds one connection, one address a few.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from natster import _nats, limits, subjects
from natster._nats import Client
from natster._quiet import quietly
from natster._rate import address_of
from natster.errors import NatsterError
from natster.security import KeyKind, KeyPair

log = logging.getLogger(__name__)


def signin_key(signing: KeyPair) -> KeyPair:
    """The signin account, made again from the operator signing key."""
    return KeyPair.from_raw(KeyKind.ACCOUNT, signing.derive("signin account"))


@dataclass(frozen=True)
class _Guest:
    user: str
    address: str


class GuestWarden:
    """Keeps each sign-in guest to one connection, and each address to a few."""

    def __init__(
        self, sys: Client, account: str, per_address: int = limits.GUESTS_PER_ADDRESS
    ) -> None:
        self._sys, self._account, self._per_address = sys, account, per_address
        self._live: dict[tuple[str, int], _Guest] = {}  # (server id, client id)
        self._subs: list[Subscription] = []
        self.kicked = 0

    async def start(self) -> None:
        for event, handler in (
            (subjects.SYS_CONNECT_EVENT, self._on_connect),
            (subjects.SYS_DISCONNECT_EVENT, self._on_disconnect),
        ):
            subject = event.format(account=self._account)
            self._subs.append(await self._sys.subscribe(subject, cb=handler))
        await self._sys.flush()

    async def stop(self) -> None:
        for sub in self._subs:
            with quietly(log, "unsubscribing the guest warden"):
                await sub.unsubscribe()
        self._subs.clear()

    async def _on_connect(self, msg: Msg) -> None:
        found = _connection(msg.data)
        if found is None:
            return
        key, guest = found
        self._live[key] = guest
        users = Counter(g.user for g in self._live.values())
        addresses = Counter(g.address for g in self._live.values())
        if users[guest.user] > 1 or addresses[guest.address] > self._per_address:
            await self._kick(*key)

    async def _on_disconnect(self, msg: Msg) -> None:
        found = _connection(msg.data)
        if found is not None:
            self._live.pop(found[0], None)

    async def _kick(self, server: str, client: int) -> None:
        """Close that connection (nats-server's KICK; any node's warden may ask it)."""
        self._live.pop((server, client), None)
        self.kicked += 1
        subject = subjects.SYS_KICK.format(server=server)
        try:
            await _nats.request_raw(
                self._sys, subject, json.dumps({"cid": client}).encode(), what="nats-server"
            )
        except NatsterError as exc:
            log.debug("could not close a guest's extra connection: %s", exc)


def _connection(data: bytes) -> tuple[tuple[str, int], _Guest] | None:
    """(server id, client id) and the guest, from a connect or disconnect event."""
    try:
        event: Any = json.loads(data)
        server, client = event["server"]["id"], event["client"]
        key = (str(server), int(client["id"]))
        return key, _Guest(str(client.get("user", "")), address_of(str(client.get("host", ""))))
    except (ValueError, KeyError, TypeError):
        return None
