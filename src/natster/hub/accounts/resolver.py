"""Pushing account JWTs to nats-server's full resolver, and proving they took.

nats-server answers "jwt updated" even to JWTs it then ignores (REFERENCE.md), so
:meth:`Resolver.push` checks the chain itself first, keeps ``iat`` increasing, and
reads the JWT back from the server before it reports success.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from natster import _nats, limits, subjects
from natster._nats import Client
from natster.errors import HubError, JwtError, RequestTimeout, ServiceUnavailable
from natster.hub.accounts.claims import check_account
from natster.security import KeyPair
from natster.security import jwt as jwtlib
from natster.security.jwt import AccountClaims


class Resolver:
    """Account JWTs as the server holds them; writes serialized per account."""

    def __init__(self, sys_client: Client, signer: KeyPair, trusted: set[str]) -> None:
        self._nc = sys_client
        self._signer = signer
        self._trusted = trusted
        self._locks: dict[str, asyncio.Lock] = {}

    async def lookup_jwt(self, account: str) -> str | None:
        subject = subjects.SYS_CLAIMS_LOOKUP.format(account=account)
        try:
            data = await _nats.request_raw(
                self._nc, subject, b"", timeout=limits.RESOLVER_TIMEOUT_S, what="nats-server"
            )
        except (ServiceUnavailable, RequestTimeout):
            return None
        text = data.decode(errors="replace").strip()
        return text if text.count(".") == 2 else None

    async def lookup(self, account: str) -> AccountClaims | None:
        token = await self.lookup_jwt(account)
        if token is None:
            return None
        try:
            return jwtlib.decode_account(token, trusted=self._trusted)
        except JwtError:
            return None

    @asynccontextmanager
    async def _locked(self, account: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(account, asyncio.Lock())
        async with lock:
            yield

    async def push(self, claims: AccountClaims) -> AccountClaims:
        async with self._locked(claims.sub):
            current = await self.lookup(claims.sub)
            return await self._push(claims, current)

    async def edit(
        self, account: str, change: Callable[[AccountClaims], AccountClaims]
    ) -> AccountClaims:
        """Read the account's JWT from the server, apply ``change``, push it, verify it."""
        async with self._locked(account):
            current = await self.lookup(account)
            if current is None:
                raise HubError(f"account {account} is not known to this hub")
            return await self._push(change(current.model_copy(deep=True)), current)

    async def _push(self, claims: AccountClaims, current: AccountClaims | None) -> AccountClaims:
        check_account(claims)
        previous = current.iat if current is not None else 0
        iat = max(int(time.time()), previous + 1)
        token = jwtlib.encode(claims, self._signer, iat=iat)
        decoded = jwtlib.decode_account(token, trusted=self._trusted)
        subject = subjects.SYS_CLAIMS_UPDATE.format(account=claims.sub)
        try:
            data = await _nats.request_raw(
                self._nc,
                subject,
                token.encode(),
                timeout=limits.RESOLVER_TIMEOUT_S,
                what="nats-server",
            )
        except (ServiceUnavailable, RequestTimeout) as exc:
            raise HubError("nats-server did not take the account update") from exc
        _check_update_reply(data)
        # Read back. In a cluster the answer may come from a node the update has not
        # reached yet (the full resolver passes it on within moments), or another node
        # may have pushed the same claims a moment later: either is fine, a difference
        # that lasts is not.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits.RESOLVER_TIMEOUT_S
        while True:
            held = await self.lookup_jwt(claims.sub)
            if held == token:
                return decoded
            newer = None if held is None else jwtlib.decode_account(held, trusted=self._trusted)
            if newer is not None and newer.nats == decoded.nats:
                return newer
            if loop.time() >= deadline:
                raise HubError(f"nats-server did not apply the update of account {claims.sub}")
            await asyncio.sleep(0.1)


def _check_update_reply(data: bytes) -> None:
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise HubError("nats-server answered the account update with garbage") from exc
    error = body.get("error") if isinstance(body, dict) else None
    if error:
        text = error.get("description") if isinstance(error, dict) else str(error)
        raise HubError(f"nats-server refused the account update: {text}")
