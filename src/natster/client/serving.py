"""A catalog server's connection in its serving account (hub/accounts/serving.py says why).

The user key is made here and never leaves this process; the hub signs it a JWT in
the caller's serving account, valid for ``limits.SERVING_USER_TTL_S``. Half-way
through, a new JWT is asked for and a second connection made with it; what served on
the first is started on the second (they share a queue group), and only then is the
first drained: no request is dropped for the change. If the hub cannot be asked, it
tries again every ``limits.SERVING_RENEW_RETRY_S``. A serving connection away for a
moment while the account's own is here was refused (revoking a device revokes every
serving user of the account): new credentials are asked for at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from natster import _nats, endpoints, limits, wire
from natster._nats import Client
from natster._quiet import quietly
from natster.errors import NatsterError, ProtocolError
from natster.security import Creds, KeyKind, KeyPair
from natster.security import jwt as jwtlib

from ._service_names import ACCOUNT_SERVICE
from .context import Context, Home

__all__ = ["Serve", "ServingLink", "serving_grant"]

log = logging.getLogger(__name__)

Stop = Callable[[], Awaitable[None]]
Serve = Callable[[Client], Awaitable[Stop]]  # start serving on a connection; how to stop


async def _nothing() -> None:
    return None


async def serve_nothing(nc: Client) -> Stop:
    """Serve nothing (the caller uses ``connection`` itself)."""
    return _nothing


async def serving_grant(nc: Client, user: str) -> wire.ServingGrant:
    """Serving credentials for ``user`` in the account ``nc`` is connected as."""
    body = wire.ServingRequest(user=user).model_dump_json().encode()
    data = await _nats.request(nc, endpoints.SERVING.local(), body, what=ACCOUNT_SERVICE)
    grant = endpoints.SERVING.parse(data, ACCOUNT_SERVICE)
    try:
        claims = jwtlib.decode_user(grant.jwt)
    except NatsterError as exc:
        raise ProtocolError(f"the hub sent serving credentials natster cannot read: {exc}") from exc
    if claims.sub != user or claims.iss != grant.account:
        raise ProtocolError("the hub sent serving credentials for another key")
    return grant


class ServingLink:
    """``connection``: where my catalog servers answer, in my serving account; what
    ``serve`` started on it is started again on each renewed connection.

    With ``bulk``, a second connection is made beside it (and renewed with it), and
    ``bulk`` starts serving there: a catalog server answers chunks on one and everything
    else on the other, so a small reply never queues behind megabytes of chunks in this
    process, its socket, or the line (each connection takes its turn on the wire)."""

    def __init__(
        self,
        asker: Client,
        home: Home,
        context: Context,
        user: KeyPair,
        serve: Serve,
        bulk: Serve | None = None,
    ) -> None:
        self._asker = asker  # my own account's connection, which asks for renewals
        self._home, self._context = home, context
        self._user = user
        self._serves = [serve] if bulk is None else [serve, bulk]
        self._grant: wire.ServingGrant | None = None
        self._lanes: list[_Lane] = []
        self._renewing: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        asker: Client,
        home: Home,
        context: Context,
        serve: Serve = serve_nothing,
        bulk: Serve | None = None,
    ) -> ServingLink:
        link = cls(asker, home, context, KeyPair.create(KeyKind.USER), serve, bulk)
        grant = await serving_grant(asker, link._user.public_key)
        link._lanes = await link._start(grant)
        link._grant = grant
        link._renewing = asyncio.create_task(link._renew())
        return link

    async def _start(self, grant: wire.ServingGrant) -> list[_Lane]:
        """A connection for each way of serving, serving; none left open if one fails."""
        lanes: list[_Lane] = []
        try:
            for number, serve in enumerate(self._serves):
                nc = await self._connect(grant, "serving" if number == 0 else "serving-bulk")
                lanes.append(_Lane(nc))
                lanes[-1].stop = await serve(nc)
        except BaseException:
            await _retire(lanes)
            raise
        return lanes

    async def _connect(self, grant: wire.ServingGrant, role: str) -> Client:
        return await _nats.connect(
            self._context.url,
            Creds(jwt=grant.jwt, seed=self._user.seed),
            name=f"natster-{self._context.name}-{role}",
            trust=self._home.trust(self._context),
            reconnect=True,
        )

    @property
    def account(self) -> str:
        """The serving account's key."""
        return self._granted().account

    @property
    def jwt(self) -> str:
        """The user JWT the current connection was made with."""
        return self._granted().jwt

    def _granted(self) -> wire.ServingGrant:
        if self._grant is None:
            raise RuntimeError("the serving link is not open")
        return self._grant

    @property
    def connection(self) -> Client:
        """The connection ``serve`` serves on (``bulk``'s is beside it)."""
        if not self._lanes:
            raise RuntimeError("the serving link is not open")
        return self._lanes[0].nc

    @property
    def max_payload(self) -> int:
        """The largest message the hub carries from here (a chunk and its seal)."""
        return int(self.connection.max_payload)

    async def _renew(self) -> None:
        while True:
            left = self._granted().expires_at - time.time()
            await self._until_due(time.monotonic() + max(left / 2, limits.SERVING_RENEW_RETRY_S))
            try:
                grant = await serving_grant(self._asker, self._user.public_key)
            except NatsterError as exc:
                log.warning("serving credentials not renewed yet (%s): trying again", exc)
                continue
            try:
                lanes = await self._start(grant)
            except Exception as exc:
                log.warning("not serving on renewed credentials yet (%s): trying again", exc)
                continue
            old, self._grant, self._lanes = self._lanes, grant, lanes
            log.info("serving credentials renewed")
            await _retire(old)

    async def _until_due(self, due: float) -> None:
        """Wait until ``due`` (monotonic), or until a serving connection has been away
        for ``SERVING_CUT_S`` while my own account's is here: its credentials were
        revoked (a device of the account was: every serving user goes with it), and
        new ones are asked for at once."""
        away: dict[int, float] = {}
        while (now := time.monotonic()) < due:
            for number, lane in enumerate(self._lanes):
                if lane.nc.is_connected:  # (a current lane closes only when refused)
                    away.pop(number, None)
                else:
                    away.setdefault(number, now)
            if self._asker.is_connected and any(
                now - since >= limits.SERVING_CUT_S for since in away.values()
            ):
                log.info("a serving connection was refused: asking for new credentials")
                return
            await asyncio.sleep(min(0.5, due - now))

    async def close(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing
        lanes, self._lanes = self._lanes, []
        await _retire(lanes)


@dataclass
class _Lane:
    """One serving connection and how to stop what serves on it."""

    nc: Client
    stop: Stop = _nothing


async def _retire(lanes: list[_Lane]) -> None:
    """Stop serving on each, let what they are answering finish, close them: each step
    within a request's deadline (a connection whose credentials expired may be stuck
    reconnecting, and its socket may never drain)."""
    for lane in lanes:
        try:
            await asyncio.wait_for(lane.stop(), limits.REQUEST_TIMEOUT_S)
        except Exception as exc:  # a connection already gone: nothing left to stop
            log.debug("stopping a serving connection: %s", exc)
    for lane in lanes:
        try:
            await asyncio.wait_for(lane.nc.drain(), limits.REQUEST_TIMEOUT_S)
        except Exception as exc:
            log.debug("draining a serving connection: %s", exc)
        with quietly(log, "closing a serving connection"):
            await asyncio.wait_for(lane.nc.close(), limits.REQUEST_TIMEOUT_S)
