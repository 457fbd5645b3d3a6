"""A catalog server's connection in its serving account (hub/serving.py says why).

The user key is made here and never leaves this process; the hub signs it a JWT in
the caller's serving account, valid for ``limits.SERVING_USER_TTL_S``. Half-way
through, a new JWT is asked for and the connection reconnects with it (nats-py asks for
the credentials at every connection); if the hub cannot be asked, it tries again every
``limits.SERVING_RENEW_RETRY_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from natster import _nats, limits, subjects, wire
from natster._nats import Client
from natster.errors import NatsterError, ProtocolError
from natster.security import Creds, KeyKind, KeyPair
from natster.security import jwt as jwtlib

from ._services import ACCOUNT_SERVICE
from .context import Context, Home

log = logging.getLogger(__name__)


async def serving_grant(nc: Client, user: str) -> wire.ServingGrant:
    """Serving credentials for ``user`` in the account ``nc`` is connected as."""
    body = wire.ServingRequest(user=user).model_dump_json().encode()
    data = await _nats.request(nc, subjects.accounts_local("serving"), body, what=ACCOUNT_SERVICE)
    grant = wire.ServingGrant.model_validate(data)
    try:
        claims = jwtlib.decode_user(grant.jwt)
    except NatsterError as exc:
        raise ProtocolError(f"the hub sent serving credentials natster cannot read: {exc}") from exc
    if claims.sub != user or claims.iss != grant.account:
        raise ProtocolError("the hub sent serving credentials for another key")
    return grant


class ServingLink:
    """``connection``: where my catalog servers answer, in my serving account."""

    def __init__(self, asker: Client, user: KeyPair, grant: wire.ServingGrant) -> None:
        self._asker = asker  # my own account's connection, which asks for renewals
        self._user = user
        self._grant = grant
        self._nc: Client | None = None
        self._renewing: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, asker: Client, home: Home, context: Context) -> ServingLink:
        user = KeyPair.create(KeyKind.USER)
        link = cls(asker, user, await serving_grant(asker, user.public_key))
        link._nc = await _nats.connect(
            context.url,
            link.creds,
            name=f"natster-{context.name}-serving",
            trust=home.trust(context),
            reconnect=True,
        )
        link._renewing = asyncio.create_task(link._renew())
        return link

    def creds(self) -> Creds:
        return Creds(jwt=self._grant.jwt, seed=self._user.seed)

    @property
    def account(self) -> str:
        """The serving account's key."""
        return self._grant.account

    @property
    def connection(self) -> Client:
        if self._nc is None:
            raise RuntimeError("the serving link is not open")
        return self._nc

    @property
    def max_payload(self) -> int:
        """The largest message the hub carries from here (a chunk and its seal)."""
        return int(self.connection.max_payload)

    async def _renew(self) -> None:
        while True:
            left = self._grant.expires_at - time.time()
            await asyncio.sleep(max(left / 2, limits.SERVING_RENEW_RETRY_S))
            try:
                self._grant = await serving_grant(self._asker, self._user.public_key)
            except NatsterError as exc:
                log.warning("serving credentials not renewed yet (%s): trying again", exc)
                continue
            log.info("serving credentials renewed: reconnecting with them")
            await self.connection.force_reconnect()

    async def close(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
