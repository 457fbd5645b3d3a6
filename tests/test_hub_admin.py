"""Administering a hub from its directory: `hub people` and `hub remove`, against a real
hub. Removing is tested as the attack it answers: the removed person's every credential
(this machine's, a device's, a user their key signs afterwards) is refused."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

import pytest

from natster import _nats, endpoints, wire
from natster.client import Home, NatsterClient, join
from natster.errors import InviteError, RemoteError, UnknownPerson
from natster.hub import mint_invite, mint_short_invite
from natster.hub.admin import account_log, invites, people, remove, revoke_invite
from natster.hub.entry.invites import token_key
from natster.hub.tools import HUB_CONTEXT_ROLES

from .cliworld import hub_process, member, one_line_error
from .conftest import (
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


async def test_people_lists_everyone_and_remove_cuts_one_off_for_good(
    world: World, tmp_path: Path
) -> None:
    hub, alice, bob = world.hub, world.alice, world.bob
    await shared_and_imported(world)
    await add_device(alice, Home(tmp_path / "phone"))
    phone = await NatsterClient.connect(Home(tmp_path / "phone"))
    listed = {p.name: p for p in await people(hub.dir)}
    assert sorted(listed) == ["alice", "bob", "carol"]  # the hub's own account is no one
    assert (listed["alice"].online, listed["alice"].shares) == (True, 1)
    assert listed["alice"].devices >= 2  # this machine and the phone
    assert (listed["bob"].imports, listed["carol"].imports) == (1, 0)

    # the attack: a member asks the account service to remove another
    body = wire.AccountRemoveRequest(account=key(world.carol)).encode()
    with pytest.raises(RemoteError, match="only the hub's owner") as refused:
        await _nats.request(bob.connection, endpoints.ACCOUNT_REMOVE.local(), body)
    assert refused.value.status == 403

    account, creds, device = alice.home.account_key(), alice.home.creds(), phone.home.creds()
    alice.connection.options["max_reconnect_attempts"] = 0
    phone.connection.options["max_reconnect_attempts"] = 0
    began = time.monotonic()
    gone = await remove(hub.dir, "Alice")  # by name, as people type it
    assert (gone.account, gone.name) == (account.public_key, "alice")

    async def cut() -> bool:
        return not alice.connection.is_connected and not phone.connection.is_connected

    await eventually(cut, 2 - (time.monotonic() - began), "alice and her phone are cut off")
    serving = f"$SYS.REQ.ACCOUNT.{serving_of(hub, account.public_key)}.CONNZ"

    async def not_serving() -> bool:
        connz = await hub.system_request(serving)
        return bool(connz["data"]["num_connections"] == 0)

    await eventually(not_serving, 2, "her catalog server is cut off too")
    await asyncio.sleep(1.1)  # a user made after the cut's second: not revoked by it
    for attempt in (creds, device, signed_anew(account)):
        assert not await connects(hub, attempt)
    info = await bob.account_info()
    assert [c for c in info.catalogs if c.owner == account.public_key] == []
    assert sorted(p.name for p in await people(hub.dir)) == ["bob", "carol"]
    with pytest.raises(UnknownPerson):
        await remove(hub.dir, "alice")  # gone: nobody holds the name
    logged = [(line.what, line.name) for line in await account_log(hub.dir)]
    assert logged[0] == ("removed by the hub", "alice")  # newest first, who and what
    assert ("joined", "carol") in logged
    await phone.close()


def test_the_cli_lists_people_and_asks_before_it_removes(
    hub_process: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    hub_dir = hub_process[0]
    member(hub_dir, tmp_path, "dora")
    listed = json.loads(natster("hub", "people", "--dir", str(hub_dir), "--json").stdout)
    assert [(p["name"], p["shares"], p["imports"]) for p in listed] == [("dora", 0, 0)]
    assert one_line_error(natster("hub", "remove", "dora", "--dir", str(hub_dir))) == (
        "error: removing dora cuts them off for good: pass --yes to confirm"
    )
    done = natster("hub", "remove", "dora", "--dir", str(hub_dir), "--yes")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "removed dora: cut off, their shares ended, the name free"
    table = natster("hub", "people", "--dir", str(hub_dir)).stdout
    assert "nobody has joined yet" in table
    natster("hub", "invite", "--dir", str(hub_dir))
    (pending,) = json.loads(natster("hub", "invites", "--dir", str(hub_dir), "--json").stdout)
    ended = natster("hub", "invites", "--dir", str(hub_dir), "--revoke", pending["id"])
    assert ended.stdout.strip() == (
        f"invite {pending['id']} ended: its words or token let nobody in now"
    )
    assert "no unused invites" in natster("hub", "invites", "--dir", str(hub_dir)).stdout
    logged = json.loads(natster("hub", "log", "--dir", str(hub_dir), "--json").stdout)
    assert [(line["what"], line["name"]) for line in logged][:2] == [
        ("removed by the hub", "dora"),
        ("joined", "dora"),
    ]
    config = tmp_path / "config"
    said = natster("hub", "context", "--dir", str(hub_dir), env={"XDG_CONFIG_HOME": str(config)})
    assert said.stdout.splitlines() == [
        *(f"wrote {config}/nats/context/natster-hub-{role}.json" for role in HUB_CONTEXT_ROLES),
        "try: nats --context natster-hub-global micro ls; "
        "nats --context natster-hub-sys server report jetstream",
    ], said.stderr


async def test_unused_invites_are_listed_and_one_is_ended(hub: RunningHub, tmp_path: Path) -> None:
    short = await mint_short_invite(hub.dir, 600)
    long = await mint_invite(hub.dir, 600)
    used = await mint_short_invite(hub.dir, 600)
    await join(used.encode(), home=Home(tmp_path / "erin"), name="erin")  # spent: not listed
    listed = await invites(hub.dir)
    assert len(listed) == 2
    assert all(i.expires_at > time.time() + 500 for i in listed)
    ids = {i.id for i in listed}
    short_id = next(i for i in ids if token_key(short.words).startswith(i))
    with pytest.raises(InviteError, match="4 or more"):
        await revoke_invite(hub.dir, "ab")
    ended = await revoke_invite(hub.dir, short_id[:6])
    assert ended.id == short_id
    assert [i.id for i in await invites(hub.dir)] == list(ids - {short_id})
    with pytest.raises(InviteError):  # its words let nobody in now
        await join(short.encode(), home=Home(tmp_path / "frank"), name="frank")
    await join(long.encode(), home=Home(tmp_path / "gina"), name="gina")  # the other works
    assert await invites(hub.dir) == []
