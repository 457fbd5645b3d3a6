"""Leaving the hub (`natster leave`): the account is deleted as far as anyone can tell.
Its shares end both ways, others' imports of its catalogs go, its name is free, and
nats-server refuses it from then on, even a user its own key signs afresh (the attack)."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
from pathlib import Path

import pytest

from natster import _nats, endpoints, wire
from natster.catalog import Catalogs
from natster.client import Home, NatsterClient, remote
from natster.errors import NatsterError, NotPermitted, RemoteError
from natster.security import KeyKind, KeyPair

from .cliworld import hub_process, member, one_line_error
from .conftest import (
    JoinUser,
    RunningHub,
    World,
    add_device,
    connects,
    eventually,
    key,
    natster,
    serving_of,
    shared_and_imported,
    signed_anew,
)

pytestmark = pytest.mark.heavy
__all__ = ["hub_process"]  # a fixture


async def test_leaving_ends_every_share_frees_the_name_and_cuts_the_account_off(
    world: World, join_user: JoinUser, tmp_path: Path
) -> None:
    alice, bob, carol = world.alice, world.bob, world.carol
    await shared_and_imported(world)  # films: shared with bob, who imported it
    await remote.share(alice, "films", key(carol))  # carol has it in her inbox
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text("hello")
    with Catalogs(bob.home.path) as mine:
        mine.new("notes", "", notes)
    await remote.share(bob, "notes", key(alice))  # and alice is given a share
    before = (await bob.stats()).accounts
    account, creds = alice.home.account_key(), alice.home.creds()
    home, url = alice.home, alice.context.url
    alice.connection.options["max_reconnect_attempts"] = 0

    began = time.monotonic()
    left = await alice.leave()
    assert (left.account, left.name) == (account.public_key, "alice")

    async def cut() -> bool:
        return not alice.connection.is_connected

    await eventually(cut, 3 - (time.monotonic() - began), "alice's connection is cut")

    serving = f"$SYS.REQ.ACCOUNT.{serving_of(world.hub, account.public_key)}.CONNZ"

    async def not_serving() -> bool:
        connz = await world.hub.system_request(serving)
        return bool(connz["data"]["num_connections"] == 0)

    await eventually(not_serving, 3, "alice's catalog server is cut off too")
    # here: the account is forgotten, the catalogs stay
    assert not home.context_file.exists()
    assert not home.account_seed_file.exists()
    assert not home.creds_file.exists()
    with Catalogs(home.path) as mine:
        assert [c.name for c in mine.local()] == ["films"]
    # the hub: neither its credentials nor a user its key signs now get in
    await asyncio.sleep(1.1)  # a user made after the revocation's second: not revoked
    for attempt in (creds, signed_anew(account)):
        assert not await connects(world.hub, attempt, url)
    # every share it gave or was given ended; bob's import of its catalog went
    assert [s for s in await bob.my_shares() if account.public_key in (s.owner, s.to)] == []
    assert [s for s in await carol.my_shares() if s.owner == account.public_key] == []
    info = await bob.account_info()
    assert [c for c in info.catalogs if c.owner == account.public_key] == []
    assert (await bob.stats()).accounts == before - 1
    with pytest.raises(RemoteError, match="not known"):
        await remote.share(bob, "notes", account.public_key)
    # and its name is free for anyone
    again = await NatsterClient.connect(await join_user("alice"))
    try:
        assert (await again.global_whoami()).name == "alice"
        assert again.account != account.public_key
    finally:
        await again.close()


async def test_only_the_account_key_leaves_and_only_now(
    hub: RunningHub, alice: NatsterClient
) -> None:
    """The attack, on the wire: a request to leave signed by another key, by nobody, or
    long ago is refused; the account stays a member."""
    mine = alice.home.account_key()
    other = KeyPair.create(KeyKind.ACCOUNT)
    now = int(time.time())

    def signed(by: KeyPair, at: int) -> bytes:
        proof = by.sign(wire.leave_proof(mine.public_key, at))
        signature = base64.urlsafe_b64encode(proof).decode().rstrip("=")
        return json.dumps({"at": at, "signature": signature}).encode()

    for payload, said in [
        (signed(other, now), "account key"),
        (json.dumps({"at": now, "signature": "AAAA"}).encode(), "account key"),
        (signed(mine, now - 3600), "too old"),
        (b'{"at": 1}', "signature"),
    ]:
        with pytest.raises(RemoteError, match=said) as refused:
            await _nats.request(alice.connection, endpoints.ACCOUNT_LEAVE.local(), payload)
        assert refused.value.status in (400, 403)
    assert (await alice.global_whoami()).name == "alice"  # still here


async def test_a_device_cannot_leave(hub: RunningHub, alice: NatsterClient, tmp_path: Path) -> None:
    await add_device(alice, Home(tmp_path / "phone"))
    phone = await NatsterClient.connect(Home(tmp_path / "phone"))
    try:
        with pytest.raises(NotPermitted, match="machine that holds the account key"):
            await phone.leave()
        # its JWT denies the subject too (asked on the wire, without the client's check)
        with pytest.raises(NatsterError):
            await _nats.request(phone.connection, endpoints.ACCOUNT_LEAVE.local(), b"{}")
    finally:
        await phone.close()
    assert (await alice.global_whoami()).name == "alice"


def test_the_cli_asks_before_it_leaves(
    hub_process: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    home = member(hub_process[0], tmp_path, "dora")
    refused = natster("leave", home=home)  # no terminal to ask on: --yes is needed
    assert one_line_error(refused) == (
        "error: leaving deletes your account from the hub: pass --yes to confirm"
    )
    done = natster("leave", "--yes", home=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "dora left the hub; your catalogs stay on this machine"
    assert "natster init" in one_line_error(natster("whoami", home=home))


def test_a_leaving_replays_to_the_same_state() -> None:
    """The event carries what it ended: applied twice, or replayed from the start of the
    log, the state is the same; nothing written about the account before it counts."""
    from natster import events as ev
    from natster.services.global_service.projections import ACCOUNTS, SHARES
    from natster.services.global_service.projector import apply_events

    hub, alice, bob = (KeyPair.create(KeyKind.ACCOUNT).public_key for _ in range(3))
    log = [
        ev.make_event(
            ev.ACCOUNT_INITIALIZED, hub, ev.AccountInitialized(account=alice, name="a"), alice
        ),
        ev.make_event(
            ev.CATALOG_SHARED, alice, ev.CatalogShared(owner=alice, catalog="f", target=bob), "x"
        ),
        ev.make_event(
            ev.ACCOUNT_LEFT,
            hub,
            ev.AccountLeft(
                account=alice, shares=[ev.ShareEnded(owner=alice, catalog="f", target=bob)]
            ),
            alice,
        ),
    ]
    numbered = list(enumerate(log, start=1))
    for projection, key_ in ((ACCOUNTS, alice), (SHARES, f"{alice}.f.{bob}")):
        records: dict[str, dict[str, object]] = {}
        apply_events(projection, numbered, records)
        once = dict(records[key_])
        apply_events(projection, numbered, records)  # redelivered: nothing changes
        assert records[key_] == once
        assert once["seq"] == 3
    accounts: dict[str, dict[str, object]] = {}
    apply_events(ACCOUNTS, numbered, accounts)
    assert accounts[alice].get("left_at")
    assert "name" not in accounts[alice]
    shares: dict[str, dict[str, object]] = {}
    apply_events(SHARES, numbered, shares)
    assert shares[f"{alice}.f.{bob}"]["shared"] is False
    # announced again after it left (a stale account service): not a member again
    again = ev.make_event(
        ev.ACCOUNT_INITIALIZED, hub, ev.AccountInitialized(account=alice, name="a"), alice
    )
    assert apply_events(ACCOUNTS, [(4, again)], accounts) == {}
