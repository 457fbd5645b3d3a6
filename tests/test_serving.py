"""Serving accounts: where a user's catalog servers answer from (hub/accounts/serving.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from natster import _nats, limits, subjects, wire
from natster._nats import Client
from natster.client import NatsterClient
from natster.client.serving import serving_grant
from natster.errors import RemoteError
from natster.security import KeyKind, KeyPair, jwt

from .conftest import RunningHub, serving_of


@pytest.mark.heavy
async def test_serving_credentials_are_renewed_before_they_expire(
    hub: RunningHub, alice: NatsterClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 3 s credentials, a server answering from the serving account answers every
    request for three times as long: half-way through each JWT's life it serves on a new
    connection before the old one is drained (nats-server cuts one whose JWT expired)."""
    monkeypatch.setattr(limits, "SERVING_USER_TTL_S", 3)
    monkeypatch.setattr(limits, "SERVING_RENEW_RETRY_S", 0.2)
    connections: list[Client] = []

    async def answer(msg: Any) -> None:
        await msg.respond(wire.ok({"from": "serving"}))

    async def serve(nc: Client) -> Callable[[], Awaitable[None]]:
        connections.append(nc)
        sub = await nc.subscribe(subjects.catalog_listen("x", "summary"), cb=answer)
        await nc.flush()
        return sub.unsubscribe

    link = await alice.open_serving(serve)
    first = link.jwt
    assert link.account == serving_of(hub, alice.account)
    asked = subjects.catalog_local(alice.account, "x", "summary")  # through her own import
    try:
        for _ in range(36):
            assert (await alice.request(asked, b"{}")) == {"from": "serving"}
            await asyncio.sleep(0.25)
        assert link.jwt != first
        assert jwt.decode_user(link.jwt).exp is not None
        assert len(connections) >= 3  # renewed at 1.5 s, 3 s, ...
        assert link.connection is connections[-1]
        assert all(nc.is_closed for nc in connections[:-2])  # the old ones are let go
    finally:
        await link.close()
    assert connections[-1].is_closed


@pytest.mark.parametrize(
    "payload",
    [b"", b"{}", b'{"user": "U"}', b'{"user": 5}', b'{"user": "ABC", "x": 1}', b"[" * 100],
)
async def test_serving_refuses_bad_requests(alice: NatsterClient, payload: bytes) -> None:
    with pytest.raises(RemoteError) as refused:
        await _nats.request(alice.connection, subjects.accounts_local("serving"), payload)
    assert 400 <= refused.value.status < 500


async def test_serving_credentials_are_for_the_callers_own_serving_account(
    hub: RunningHub, alice: NatsterClient, bob: NatsterClient
) -> None:
    user = KeyPair.create(KeyKind.USER)
    grant = await serving_grant(bob.connection, user.public_key)
    claims = jwt.decode_user(grant.jwt)
    assert (claims.sub, claims.iss) == (user.public_key, serving_of(hub, bob.account))
    assert grant.account != serving_of(hub, alice.account)
