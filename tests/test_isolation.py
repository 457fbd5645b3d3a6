"""What NATS itself enforces between accounts, tested against the real server."""

from __future__ import annotations

import asyncio

import pytest

from natster import _nats, subjects
from natster.client import Home, NatsterClient
from natster.errors import JwtError, ServiceUnavailable
from natster.hub.accounts import claims as hub_claims
from natster.security import jwt

from .conftest import JoinUser, RunningHub, serving_of


async def test_one_account_cannot_publish_into_another(join_user: JoinUser) -> None:
    alice, bob = await join_user("alice"), await join_user("bob")
    a = await NatsterClient.connect(alice)
    b = await NatsterClient.connect(bob)
    got: list[bytes] = []

    async def collect(msg: object) -> None:
        got.append(msg.data)  # type: ignore[attr-defined]

    try:
        await a.connection.subscribe("chat.>", cb=collect)
        await a.connection.flush()
        await b.connection.publish("chat.alice", b"from bob")
        await b.connection.flush()
        await a.connection.publish("chat.alice", b"from alice")  # the control
        await a.connection.flush()
        await asyncio.sleep(0.3)
    finally:
        await a.close()
        await b.close()
    assert got == [b"from alice"]


async def test_an_import_lying_about_the_token_position(
    hub: RunningHub, join_user: JoinUser
) -> None:
    """Carol's JWT imports the account service with alice's key in token 1.

    natster's resolver refuses to sign it; forged and pushed anyway (as a rogue hub
    would), nats-server drops the import silently: carol reaches nothing, and above
    all is never answered as alice.
    """
    alice, carol = await join_user("alice"), await join_user("carol")
    alice_key, carol_key = alice.load().account, carol.load().account
    resolver = hub.hub.resolver
    assert resolver is not None
    current = await resolver.lookup(carol_key)
    assert current is not None
    lying = current.model_copy(deep=True)
    for item in lying.nats.imports:
        if item.local_subject == subjects.ACCOUNTS_LOCAL:
            item.subject = subjects.for_account(subjects.ACCOUNTS_EXPORT, alice_key)

    with pytest.raises(JwtError, match="token position"):
        await resolver.push(lying)

    forged = jwt.encode(lying, hub.dir.seed("operator-signing"), iat=current.iat + 10)
    sys_nc = await _nats.connect(
        hub.info.local_url, hub.dir.creds("sys"), trust=hub.dir.trust(), name="rogue"
    )
    try:
        subject = subjects.SYS_CLAIMS_UPDATE.format(account=carol_key)
        await sys_nc.request(subject, forged.encode(), timeout=2)
        assert await resolver.lookup_jwt(carol_key) == forged  # the server took the JWT
    finally:
        await sys_nc.close()

    async with await NatsterClient.connect(carol) as client:
        with pytest.raises(ServiceUnavailable):
            await client.account_info()
    async with await NatsterClient.connect(alice) as client:  # alice is unaffected
        assert (await client.account_info()).account == alice_key


async def test_user_accounts_get_token_position_exports(
    hub: RunningHub, join_user: JoinUser
) -> None:
    home: Home = await join_user("alice")
    resolver = hub.hub.resolver
    assert resolver is not None
    claims = await resolver.lookup(home.load().account)
    serving = await resolver.lookup(serving_of(hub, home.load().account))
    assert claims is not None
    assert serving is not None
    assert claims.nats.exports == []  # her catalogs are exported by her serving account
    exports = {e.subject: e for e in serving.nats.exports}
    assert exports["*.natster.catalog.>"].account_token_position == 1
    assert exports["*.natster.catalog.>"].type == "service"
    assert not any(e.token_req for e in serving.nats.exports)
    assert serving.nats.imports == []
    for item in claims.nats.imports:
        assert item.subject.split(".")[0] == claims.sub
    hub_claims.check_account(claims)
    hub_claims.check_account(serving)
