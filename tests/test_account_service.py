"""The account service answers every malformed or hostile request with a 4xx, never a crash."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from natster import _nats, limits, subjects, wire
from natster.client import NatsterClient
from natster.errors import Refused, RemoteError
from natster.hub.accounts import claims as hub_claims
from natster.hub.accounts.claims import OWN_CATALOGS
from natster.hub.entry.invites import Invite
from natster.security import KeyKind, KeyPair, jwt

from .conftest import JoinUser, RunningHub, serving_of


def _signup(token: str, key: KeyPair, **override: object) -> bytes:
    proof = key.sign(wire.signup_proof(token, key.public_key))
    body: dict[str, object] = {
        "token": token,
        "account": key.public_key,
        "name": "x",
        "signature": base64.urlsafe_b64encode(proof).decode().rstrip("="),
    }
    body.update(override)
    return json.dumps(body).encode()


GOOD_TOKEN = "t" * 43
ACCOUNT = KeyPair.create(KeyKind.ACCOUNT)
HOSTILE = {
    "not json": b"{nope",
    "empty": b"",
    "a list": b"[]",
    "null": b"null",
    "wrong types": json.dumps({"token": 1, "account": [], "name": {}, "signature": 2}).encode(),
    "extra field": _signup(GOOD_TOKEN, ACCOUNT, admin=True),
    "missing field": json.dumps({"token": GOOD_TOKEN}).encode(),
    "user key, not account": _signup(
        GOOD_TOKEN, ACCOUNT, account=KeyPair.create(KeyKind.USER).public_key
    ),
    "operator key": _signup(
        GOOD_TOKEN, ACCOUNT, account=KeyPair.create(KeyKind.OPERATOR).public_key
    ),
    "bad checksum": _signup(GOOD_TOKEN, ACCOUNT, account="A" * 56),
    "signature by another key": _signup(
        GOOD_TOKEN, ACCOUNT, account=KeyPair.create(KeyKind.ACCOUNT).public_key
    ),
    "signature not base64": _signup(GOOD_TOKEN, ACCOUNT, signature="%%%"),
    "unknown token": _signup(GOOD_TOKEN, ACCOUNT),
    "control chars in name": _signup(GOOD_TOKEN, ACCOUNT, name="a\x00b"),
    "name too long": _signup(GOOD_TOKEN, ACCOUNT, name="n" * 500),
    "huge": b"{" + b" " * 200_000 + b"}",
    "deep nesting": b"[" * 5000 + b"]" * 5000,
}


@pytest.mark.parametrize("payload", HOSTILE.values(), ids=HOSTILE.keys())
async def test_signup_refuses_hostile_requests(hub: RunningHub, payload: bytes) -> None:
    # Sent from inside the accounts account so even oversized payloads reach the handler.
    nc = await _nats.connect(
        hub.info.local_url, hub.dir.creds("accounts"), trust=hub.dir.trust(), name="hostile"
    )
    try:
        with pytest.raises(RemoteError) as refused:
            await _nats.request(nc, subjects.SIGNUP, payload)
        assert 400 <= refused.value.status < 500
    finally:
        await nc.close()
    assert hub.dir.user_accounts() == []


async def test_existing_and_hub_accounts_cannot_sign_up_again(
    hub: RunningHub, join_user: JoinUser
) -> None:
    home = await join_user("alice")
    nc = await _nats.connect(
        hub.info.local_url, hub.dir.creds("accounts"), trust=hub.dir.trust(), name="t"
    )
    try:
        made = (await hub.invite()).strip()
        from natster.hub import Invite

        token = Invite.decode(made).token
        with pytest.raises(RemoteError, match="already exists") as again:
            await _nats.request(nc, subjects.SIGNUP, _signup(token, home.account_key()))
        assert again.value.status == 409
        hub_account = hub.dir.seed("hub")
        with pytest.raises(RemoteError, match="belongs to the hub"):
            await _nats.request(nc, subjects.SIGNUP, _signup(token, hub_account))
    finally:
        await nc.close()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=st.binary(max_size=2000) | st.text(max_size=500).map(str.encode))
async def test_signup_survives_fuzz(hub: RunningHub, payload: bytes) -> None:
    nc = await _nats.connect(
        hub.info.local_url, hub.dir.creds("accounts"), trust=hub.dir.trust(), name="fuzz"
    )
    try:
        with pytest.raises(RemoteError):
            await _nats.request(nc, subjects.SIGNUP, payload)
    finally:
        await nc.close()


async def test_info_ignores_its_payload_and_answers_for_the_caller(
    hub: RunningHub, join_user: JoinUser
) -> None:
    alice, bob = await join_user("alice"), await join_user("bob")
    async with await NatsterClient.connect(alice) as client:
        for payload in (b"", b"garbage", json.dumps({"account": bob.load().account}).encode()):
            data = await _nats.request(client.connection, subjects.accounts_local("info"), payload)
            assert data["account"] == alice.load().account
    # and the service still works after all of it
    async with await NatsterClient.connect(bob) as client:
        assert (await client.account_info()).name == "bob"


async def test_update_edits_only_the_callers_account(hub: RunningHub, join_user: JoinUser) -> None:
    alice, bob = await join_user("alice"), await join_user("bob")
    resolver = hub.hub.resolver
    assert resolver is not None
    bob_before = await resolver.lookup_jwt(bob.load().account)
    alice_key = alice.load().account

    # a non-standard import (as a later catalog import would be), and an account as an
    # older natster made it: the catalog export, large messages, no serving account
    def drift(claims: jwt.AccountClaims) -> jwt.AccountClaims:
        claims.nats.imports.append(
            jwt.Import(
                name="extra",
                type="service",
                account=bob.load().account,
                subject=f"{alice_key}.natster.catalog.x.>",
                local_subject="x.>",
            )
        )
        claims.nats.exports = [
            jwt.Export(name="natster-catalog", subject="*.natster.catalog.>", type="service")
        ]
        claims.nats.imports = [i for i in claims.nats.imports if i.name != OWN_CATALOGS]
        claims.nats.limits.payload = limits.HUB_MAX_PAYLOAD
        return claims

    drifted = await resolver.edit(alice_key, drift)
    async with await NatsterClient.connect(alice) as client:
        info = await client.update_account(name="Alice Liddell")
    assert info.account == alice_key
    assert info.name == "Alice Liddell"
    assert info.exports == []  # her serving account has the catalog export
    after = await resolver.lookup(alice_key)
    assert after is not None
    assert after.nats.limits.payload == limits.ACCOUNT_PAYLOAD
    assert OWN_CATALOGS in {i.name for i in after.nats.imports}
    assert after.iat > drifted.iat
    assert after.name == "Alice Liddell"
    assert "extra" in {i.name for i in after.nats.imports}  # other imports are kept
    assert await resolver.lookup_jwt(bob.load().account) == bob_before
    async with await NatsterClient.connect(bob) as client:  # the hub's members know it too
        assert [(p.account, p.name) for p in (await client.people("liddell")).people] == [
            (alice_key, "Alice Liddell")
        ]
        assert (await client.people("alice")).people[0].name == "Alice Liddell"


async def test_a_hub_brings_accounts_of_an_older_natster_up_to_date(
    hub: RunningHub, join_user: JoinUser
) -> None:
    """Accounts signed before serving accounts: alice exported her catalogs herself and
    sent large messages, bob imported her catalog from her account. Both are re-signed:
    her serving account exports them, and bob's import now comes from there."""
    alice, bob, carol = await join_user("alice"), await join_user("bob"), await join_user("carol")
    service, resolver = hub.hub.account_service, hub.hub.resolver
    assert service is not None
    assert resolver is not None
    assert hub.hub.accounts_refreshed is not None
    assert await hub.hub.accounts_refreshed == 0  # a new hub: nothing was out of date
    alice_key, bob_key = alice.load().account, bob.load().account
    carol_before = await resolver.lookup_jwt(carol.load().account)

    def older(claims: jwt.AccountClaims) -> jwt.AccountClaims:
        claims.nats.exports = [
            jwt.Export(
                name="natster-catalog",
                subject="*.natster.catalog.>",
                type="service",
                response_type="Stream",
                account_token_position=1,
            )
        ]
        claims.nats.imports = [i for i in claims.nats.imports if i.name != OWN_CATALOGS]
        claims.nats.limits = jwt.AccountLimits()
        return claims

    def imported_from_alice(claims: jwt.AccountClaims) -> jwt.AccountClaims:
        claims = hub_claims.with_catalog_import(
            claims, alice_key, "films", "films", exporter=serving_of(hub, alice_key)
        )
        claims.nats.imports[-1].account = alice_key  # as it was: from her own account
        return claims

    await resolver.edit(alice_key, older)
    await resolver.edit(bob_key, imported_from_alice)
    assert await service.refresh_accounts() == 2
    after = await resolver.lookup(alice_key)
    assert after is not None
    assert after.nats.exports == []
    assert after.nats.limits.payload == limits.ACCOUNT_PAYLOAD
    assert after.nats.limits.conn == limits.ACCOUNT_CONNECTIONS
    assert after.name == "alice"
    serving = await resolver.lookup(serving_of(hub, alice_key))
    assert serving is not None
    assert [e.response_type for e in serving.nats.exports] == ["Singleton"]
    bobs = await resolver.lookup(bob_key)
    assert bobs is not None
    (films,) = [i for i in bobs.nats.imports if i.name == f"natster-catalog:{alice_key}:films"]
    assert films.account == serving_of(hub, alice_key)
    assert await resolver.lookup_jwt(carol.load().account) == carol_before  # already current
    assert await service.refresh_accounts() == 0


@pytest.mark.parametrize(
    "payload",
    [b"[]", b'{"name": 5}', b'{"name": ""}', b'{"account": "A"}', b'{"name": "a\\u0000"}'],
)
async def test_update_refuses_bad_requests(join_user: JoinUser, payload: bytes) -> None:
    alice = await join_user("alice")
    async with await NatsterClient.connect(alice) as client:
        with pytest.raises(RemoteError) as refused:
            await _nats.request(client.connection, subjects.accounts_local("update"), payload)
    assert 400 <= refused.value.status < 500


async def test_two_service_instances_racing_for_one_invite_refuse_the_loser(
    hub: RunningHub,
) -> None:
    service = hub.hub.account_service
    assert service is not None
    token = Invite.decode(await hub.invite()).token
    # Both read the token before either deletes it: what two instances in the queue
    # group (a hub beyond one machine) can do. The loser's delete is refused by JetStream.
    results = await asyncio.gather(
        service._consume_invite(token), service._consume_invite(token), return_exceptions=True
    )
    assert results.count(None) == 1
    refused = [r for r in results if r is not None]
    assert len(refused) == 1
    assert isinstance(refused[0], Refused)
    assert refused[0].status == 403
