"""Joining a hub with an invite: `natster init`'s core."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from natster import _nats, subjects
from natster.client import Home, NatsterClient, join, whoami
from natster.errors import AlreadyInitialized, InviteError
from natster.hub import Invite, mint_invite
from natster.hub.entry.invites import signup_user, token_key

from .conftest import JoinUser, RunningHub


def _empty(home: Home) -> bool:
    return not home.path.exists() or not any(home.path.iterdir())


async def test_two_users_join(hub: RunningHub, join_user: JoinUser) -> None:
    alice, bob = await join_user("alice"), await join_user("bob")
    a, b = alice.load(), bob.load()
    assert a.account != b.account
    assert a.account.startswith("A")
    assert a.name == "alice"
    assert a.url == hub.info.url
    for home in (alice, bob):
        async with await NatsterClient.connect(home) as client:
            info = await client.account_info()
        assert info.account == home.load().account
        assert info.exports == []  # what it serves, its serving account exports
        assert f"{info.account}.natster.catalog.>" in info.imports  # its own catalogs
        assert f"{info.account}.natster.global.>" in info.imports
    facts = whoami(alice)
    assert facts["account"] == a.account
    assert facts["creds"] == str(alice.creds_file)


async def test_reused_invite_is_refused_and_leaves_nothing(hub: RunningHub, tmp_path: Path) -> None:
    invite = await hub.invite()
    await join(invite, home=Home(tmp_path / "first"), name="first")
    second = Home(tmp_path / "second")
    with pytest.raises(InviteError, match="already used"):
        await join(invite, home=second, name="second")
    assert _empty(second)
    assert len(hub.dir.user_accounts()) == 1


@pytest.mark.parametrize(
    "garbage",
    ["", "hello", "natster-invite-", "natster-invite-!!!!", "natster-invite-e30", "x" * 100_000],
)
async def test_garbage_invite_is_refused(tmp_path: Path, garbage: str) -> None:
    home = Home(tmp_path / "h")
    with pytest.raises(InviteError):
        await join(garbage, home=home, name="x")
    assert _empty(home)


async def test_expired_token_is_refused(hub: RunningHub, tmp_path: Path) -> None:
    """The token's KV entry expires by its per-key TTL; the invite then no longer works."""
    nc = await _nats.connect(
        hub.info.local_url, hub.dir.creds("accounts"), trust=hub.dir.trust(), name="test"
    )
    try:
        kv = await nc.jetstream().key_value(subjects.INVITES_BUCKET)
        await kv.create(token_key("t" * 32), json.dumps({}).encode(), msg_ttl=1)
    finally:
        await nc.close()
    expires = int(time.time()) + 600
    user = signup_user(hub.dir.seed("signup"), expires)
    invite = Invite(hub.info.url, "t" * 32, user, expires, ca=hub.info.ca_pin)
    await asyncio.sleep(2.5)
    home = Home(tmp_path / "late")
    with pytest.raises(InviteError, match="expired"):
        await join(invite.encode(), home=home, name="late")
    assert _empty(home)


async def test_locally_expired_invite_is_refused(hub: RunningHub, tmp_path: Path) -> None:
    made = await mint_invite(hub.dir, 600)
    stale = Invite(made.url, made.token, made.creds, int(time.time()) - 1, ca=made.ca)
    with pytest.raises(InviteError, match="expired"):
        await join(stale.encode(), home=Home(tmp_path / "h"), name="x")


async def test_racing_redeems_of_one_invite_make_one_account(
    hub: RunningHub, tmp_path: Path
) -> None:
    invite = await hub.invite()
    homes = [Home(tmp_path / f"h{i}") for i in range(4)]
    results = await asyncio.gather(
        *(join(invite, home=h, name=f"u{i}") for i, h in enumerate(homes)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, InviteError) for r in results if isinstance(r, BaseException)), results
    assert len(hub.dir.user_accounts()) == 1


async def test_a_home_holds_one_account(hub: RunningHub, join_user: JoinUser) -> None:
    home = await join_user("alice")
    before = home.context_file.read_bytes()
    with pytest.raises(AlreadyInitialized):
        await join(await hub.invite(), home=home, name="again")
    assert home.context_file.read_bytes() == before


async def test_the_account_seed_never_leaves_the_machine(hub: RunningHub, tmp_path: Path) -> None:
    """Listen (outside the service's queue group) to every signup request the hub gets."""
    seen: list[bytes] = []
    nc = await _nats.connect(
        hub.info.local_url, hub.dir.creds("accounts"), trust=hub.dir.trust(), name="spy"
    )

    async def spy(msg: object) -> None:
        seen.append(msg.data)  # type: ignore[attr-defined]

    await nc.subscribe(subjects.SIGNUP, cb=spy)
    await nc.flush()
    try:
        home = Home(tmp_path / "alice")
        await join(await hub.invite(), home=home, name="alice")
        await nc.flush()
    finally:
        await nc.close()
    assert len(seen) == 1
    seed = home.account_seed_file.read_text().strip()
    user_seed = home.creds().seed
    assert seed.encode() not in seen[0]
    assert user_seed.encode() not in seen[0]
    assert json.loads(seen[0])["account"] == home.load().account


async def test_invite_user_can_do_nothing_but_sign_up(hub: RunningHub) -> None:
    made = await mint_invite(hub.dir, 600)
    nc = await _nats.connect(
        made.url, made.creds, name="t", trust=hub.dir.trust(), inbox_prefix=made.inbox_prefix
    )
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    nc._error_cb = on_error
    try:
        await nc.publish("natster.accounts.info", b"{}")
        await nc.subscribe("_INBOX.>")
        await nc.flush()
        await asyncio.sleep(0.2)
    finally:
        await nc.close()
    assert any("permissions violation" in str(e).lower() for e in errors)
