"""TLS to the hub, attacked: men in the middle, altered pins, and what a wiretap sees.

The attackers here are real TLS servers and TCP proxies made in the test; the victims
are natster's own `init`, client and transfers against a real hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from natster import _nats, _tls
from natster.catalog import Catalogs
from natster.client import Home, NatsterClient, join, remote
from natster.client.download import download, find_entry
from natster.errors import HubError, InviteError, UntrustedHub
from natster.hub import HubDir, mint_invite, rotate
from natster.hub import tls as hub_tls
from natster.hub.entry.invites import Invite

from .conftest import RunningHub, World, eventually, free_port, key, natster, shared_and_imported


@dataclass
class Relay:
    """A TCP relay to the hub that keeps every byte the user's side sent and received."""

    url: str
    sent: bytearray = field(default_factory=bytearray)
    received: bytearray = field(default_factory=bytearray)


@contextlib.asynccontextmanager
async def relay(hub_port: int, server_ssl: ssl.SSLContext | None = None) -> AsyncIterator[Relay]:
    """A wiretap (plain TCP, TLS passes through), or with ``server_ssl`` a man in the
    middle who ends the user's TLS with his own certificate and speaks TLS to the hub."""
    tasks: set[asyncio.Task[None]] = set()
    writers: list[asyncio.StreamWriter] = []

    async def pump(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, kept: bytearray
    ) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            while data := await reader.read(65536):
                kept.extend(data)
                writer.write(data)
                await writer.drain()
        writer.close()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = ssl.create_default_context() if server_ssl else None
        if upstream is not None:  # the attacker trusts whatever the hub shows
            upstream.check_hostname, upstream.verify_mode = False, ssl.CERT_NONE
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", hub_port, ssl=upstream)
        writers.extend([writer, up_writer])
        for task in (pump(reader, up_writer, tap.sent), pump(up_reader, writer, tap.received)):
            tasks.add(asyncio.create_task(task))

    server = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=server_ssl)
    tap = Relay(f"tls://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    try:
        yield tap
    finally:
        server.close()
        for writer in writers:
            writer.transport.abort()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def impostor(folder: Path) -> ssl.SSLContext:
    """A certificate for 127.0.0.1 from a CA with the very name of a hub's, but not its key."""
    hub_tls.make_ca(folder, name="natster hub")
    hub_tls.issue_server(folder, list(hub_tls.LOCAL_NAMES))
    files = hub_tls.own_files(folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.cert, files.key)
    return context


def port_of(hub: RunningHub) -> int:
    return int(hub.info.local_url.rsplit(":", 1)[1])


async def test_a_man_in_the_middle_is_refused_at_init(hub: RunningHub, tmp_path: Path) -> None:
    before = hub.dir.user_accounts()
    invite = (await mint_invite(hub.dir, 600)).encode()
    home = Home(tmp_path / "mallory-victim")
    async with relay(port_of(hub), impostor(tmp_path / "evil")) as mitm:
        with pytest.raises(UntrustedHub, match="pin does not match the hub's certificate"):
            await join(invite, home=home, name="victim", url=mitm.url)
        assert mitm.sent == b""  # not one byte of natster's reached him
    assert not home.initialized()
    assert hub.dir.user_accounts() == before


async def test_an_altered_pin_fails_init_and_makes_no_account(
    hub: RunningHub, tmp_path: Path
) -> None:
    before = hub.dir.user_accounts()
    made = await mint_invite(hub.dir, 600)
    assert made.ca is not None
    flipped = ("0" if made.ca[0] != "0" else "1") + made.ca[1:]
    altered = Invite(made.url, made.token, made.creds, made.expires_at, ca=flipped).encode()
    home = Home(tmp_path / "alice")
    with pytest.raises(UntrustedHub, match="check the invite for a typo") as refused:
        await join(altered, home=home, name="alice")
    assert f"the invite pins {flipped}" in str(refused.value)  # both pins, in full
    assert made.ca in str(refused.value)
    assert not home.initialized()
    assert hub.dir.user_accounts() == before
    plain = Invite(made.url.replace("tls://", "nats://"), made.token, made.creds, made.expires_at)
    with pytest.raises(InviteError, match="names no CA"):  # a downgraded invite: refused
        await join(plain.encode(), home=home, name="alice", url=made.url)
    await join(made.encode(), home=home, name="alice")  # the real one still works
    assert home.ca_file.read_bytes() == hub_tls.ca_pem(hub_tls.own_files(hub.dir.tls_dir))


async def test_a_man_in_the_middle_is_refused_on_every_later_connection(
    world: World, tmp_path: Path
) -> None:
    home = world.bob.home
    async with relay(port_of(world.hub), impostor(tmp_path / "evil")) as mitm:
        with pytest.raises(UntrustedHub, match="does not trust"):
            await _nats.connect(mitm.url, home.creds(), name="bob", trust=home.trust(home.load()))
        assert mitm.sent == b""


async def test_a_wiretap_sees_no_names_files_or_codes(world: World, tmp_path: Path) -> None:
    ref = await shared_and_imported(world)
    home = world.bob.home
    (tmp_path / "album").mkdir()
    with Catalogs(home.path) as mine:
        mine.new("holiday", "bob's", tmp_path / "album")
    async with relay(port_of(world.hub)) as tap:
        nc = await _nats.connect(tap.url, home.creds(), name="bob", trust=home.trust(home.load()))
        async with NatsterClient(home, home.load(), nc) as bob:
            listed = await remote.page(bob, ref)
            assert {e.path for e in listed.entries} >= {"trips/lake.mp4", "trips/notes.txt"}
            entry = await find_entry(bob, ref, "trips/lake.mp4")
            await download(bob, ref, entry, tmp_path / "lake.mp4")
            await remote.share(bob, "holiday", key(world.carol))
            assert {row.catalog for row in await bob.my_shares()} >= {"films", "holiday"}
            code = (await bob.otc_generate()).code
            await bob.otc_claim(code, client="tapped")
    seen = bytes(tap.sent + tap.received)
    assert len(seen) > entry.size  # the whole download crossed the tap
    for secret in (b"films", b"holiday", b"lake.mp4", b"notes.txt", b"trips", code.encode()):
        assert secret not in seen, secret
    assert (tmp_path / "lake.mp4").read_bytes() == (world.media / "trips/lake.mp4").read_bytes()


async def test_rotation_changes_nothing_for_users(world: World, tmp_path: Path) -> None:
    url = world.hub.info.local_url

    async def served() -> bytes | None:
        """The certificate the hub presents now (None: no handshake in time, mid-reload
        on a busy machine); asked off the event loop the world's clients run on."""
        try:
            return (await asyncio.to_thread(_tls._chain_of, url, 5))[0]
        except OSError:  # a TimeoutError among them
            return None

    before = await served()
    assert before is not None
    assert rotate(world.hub.dir)
    now: bytes | None = before
    for _ in range(100):  # nats-server reloads on SIGHUP, in its own time
        if (now := await served()) not in (None, before):
            break
        await asyncio.sleep(0.1)
    assert now not in (None, before)  # a new certificate, the same CA
    assert not rotate(world.hub.dir, only_if_due=True)  # a fresh one is not due
    shown = natster("hub", "tls", "show", "--json", "--dir", str(world.hub.dir.path))
    assert json.loads(shown.stdout)["ca_pin"] == world.hub.info.ca_pin
    async with await NatsterClient.connect(world.bob.home) as fresh:  # a new command
        assert (await fresh.account_info()).account == key(world.bob)
    # the running catalog server and client lose their connections, and come back
    # through a handshake with the new certificate, by themselves
    for client in (world.alice, world.bob):
        before_reconnects = client.reconnects
        client_id = client.connection.client_id
        assert client_id is not None
        await world.hub.kick(client_id)

        async def back(c: NatsterClient = client, before: int = before_reconnects) -> bool:
            return c.reconnects > before and c.connection.is_connected

        await eventually(back, 5.0)
        assert client.reconnects == before_reconnects + 1
    ref = await shared_and_imported(world)
    entry = await find_entry(world.bob, ref, "trips/notes.txt")
    await download(world.bob, ref, entry, tmp_path / "notes.txt")
    assert (tmp_path / "notes.txt").read_text() == "day one"


async def test_a_plain_hub_only_when_asked(tmp_path: Path) -> None:
    from natster.hub import Hub

    async with Hub(tmp_path / "plain", port=free_port(), insecure_plain=True) as info:
        assert info.url.startswith("nats://")
        assert info.ca_pin is None
        made = await mint_invite(HubDir(tmp_path / "plain"), 600)
        assert made.ca is None
    async with Hub(tmp_path / "plain", port=free_port()) as info:  # the default again: TLS
        assert info.url.startswith("tls://")
        assert info.ca_pin is not None
    with pytest.raises(HubError, match="advertise tls://"):
        await Hub(tmp_path / "plain", port=free_port(), advertise="nats://x:1").start()
