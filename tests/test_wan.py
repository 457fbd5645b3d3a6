"""natster on the links people have: each person's connections to the hub go through an
emulated line (bench/_links.py) with a rate and a one-way delay."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from bench._links import Link, measure

from natster import _nats, limits
from natster.catalog import Catalogs
from natster.client import Home, NatsterClient, remote
from natster.client.download import download, find_entry
from natster.client.transfer import Transfer
from natster.services.catalog_service import CatalogServer

from .conftest import JoinUser, RunningHub

pytestmark = pytest.mark.slow
MiB = 1024 * 1024


@pytest.mark.quiet
async def test_a_link_keeps_its_settings() -> None:
    """The emulator is what it says: rates within 5%, a round trip of twice the delay."""
    async with Link(("127.0.0.1", 1), up_mbit=20, down_mbit=5, delay=0.03) as link:
        got = await measure(link, 2_000_000)  # 0.8 s up: a scheduler's hiccup is 1-2% of it
    assert 19 <= got["up_mbit"] <= 21
    assert 4.75 <= got["down_mbit"] <= 5.25
    assert 0.06 <= got["rtt_s"] <= 0.075


@dataclass
class Line:
    up: float  # Mbit/s
    down: float
    delay: float = 0.02  # seconds, one way


@dataclass
class Wan:
    alice: NatsterClient
    bob: NatsterClient
    alice_link: Link
    bob_link: Link
    ref: remote.CatalogRef
    files: dict[str, bytes]


async def _through(home: Home, link: Link) -> NatsterClient:
    """A client of ``home`` whose every connection (its serving one too) crosses ``link``."""
    context = home.load().model_copy(update={"url": link.url})
    nc = await _nats.connect(
        link.url, home.creds(), name="linked", trust=home.trust(context), reconnect=True
    )
    return NatsterClient(home, context, nc)


@contextlib.asynccontextmanager
async def wan(
    hub: RunningHub, join_user: JoinUser, tmp_path: Path, owner: Line, receiver: Line, **sizes: int
) -> AsyncIterator[Wan]:
    """alice serves ``sizes`` (name: bytes) behind ``owner``; bob, behind ``receiver``,
    has imported the catalog."""
    target = ("127.0.0.1", int(hub.info.local_url.rsplit(":", 1)[1]))
    media = tmp_path / "media"
    media.mkdir()
    files = {name: os.urandom(size) for name, size in sizes.items()}
    for name, data in files.items():
        (media / name).write_bytes(data)
    homes = [await join_user("alice"), await join_user("bob")]
    with Catalogs(homes[0].path) as mine:
        mine.new("films", "", media)
    async with contextlib.AsyncExitStack() as stack:
        links = [
            await stack.enter_async_context(
                Link(target, up_mbit=line.up, down_mbit=line.down, delay=line.delay)
            )
            for line in (owner, receiver)
        ]
        alice, bob = [await _through(home, link) for home, link in zip(homes, links, strict=True)]
        stack.push_async_callback(bob.close)
        stack.push_async_callback(alice.close)
        server = CatalogServer(alice, alice.home.path, ["films"])
        await server.start()
        stack.push_async_callback(server.stop)
        await remote.share(alice, "films", bob.account)
        await remote.import_catalog(bob, "films", alice.account)
        ref = await remote.resolve(bob, "films")
        yield Wan(alice, bob, links[0], links[1], ref, files)


async def test_a_slow_owner_sends_each_byte_once(
    hub: RunningHub, join_user: JoinUser, tmp_path: Path
) -> None:
    """Behind a 10 Mbit/s upload (a chunk of 4 MiB takes 3.4 s there), nothing is asked
    for twice: the owner sends the file once, and the download keeps the line busy."""
    size = 20 * MiB
    async with wan(hub, join_user, tmp_path, Line(10, 100), Line(100, 100), film=size) as w:
        entry = await find_entry(w.bob, w.ref, "film")
        before, began = w.alice_link.up.bytes, time.monotonic()
        await download(w.bob, w.ref, entry, tmp_path / "film")
        seconds, sent = time.monotonic() - began, w.alice_link.up.bytes - before
    assert hashlib.sha256((tmp_path / "film").read_bytes()).hexdigest() == entry.hash
    assert sent < 1.05 * size, f"the owner sent {sent / size:.2f}x the file"
    assert size / seconds >= 0.85 * 10e6 / 8, f"{size / seconds * 8 / 1e6:.1f} Mbit/s"


async def test_a_small_request_is_not_behind_a_download(
    hub: RunningHub, join_user: JoinUser, tmp_path: Path
) -> None:
    """While a download fills the owner's 20 Mbit/s upload, a listing comes within 1 s."""
    async with wan(hub, join_user, tmp_path, Line(20, 100), Line(100, 100), film=24 * MiB) as w:
        entry = await find_entry(w.bob, w.ref, "film")
        running = asyncio.create_task(download(w.bob, w.ref, entry, tmp_path / "film"))
        try:
            await asyncio.sleep(2.0)  # the download is under way
            took = []
            for _ in range(3):
                began = time.monotonic()
                page = await remote.page(w.bob, w.ref, prefix="")
                took.append(time.monotonic() - began)
                assert [e.path for e in page.entries] == ["film"]
            assert not running.done()
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
    assert max(took) < 1.0, f"listings took {took}"


async def test_a_seek_starts_within_a_second(
    hub: RunningHub, join_user: JoinUser, tmp_path: Path
) -> None:
    """A player reads from the start, then seeks: behind a 20 Mbit/s owner the first
    bytes of the new place come within 1 s (a new range: transfer-open, then a chunk)."""
    async with wan(hub, join_user, tmp_path, Line(20, 100), Line(100, 100), film=32 * MiB) as w:
        entry = await find_entry(w.bob, w.ref, "film")
        data = w.files["film"]
        async with await Transfer(w.bob, w.ref, entry.hash, size=entry.size).open() as playing:
            reading = playing.read(0, entry.size)
            got = 0
            async for piece in reading:
                got += len(piece)
                if got >= 3 * MiB:
                    break  # the player seeks: this range is dropped
            await reading.aclose()
        took = []
        for start in (20 * MiB + 12345, 9 * MiB, 28 * MiB):
            began = time.monotonic()
            async with await Transfer(w.bob, w.ref, entry.hash, size=entry.size).open() as seek:
                reading = seek.read(start, entry.size)
                first = await anext(reading)
                took.append(time.monotonic() - began)
                await reading.aclose()
            assert first == data[start : start + len(first)]
    assert max(took) < 1.0, f"first bytes after seeks took {took}"


async def test_a_slow_receiver_is_never_cut_off(
    hub: RunningHub, join_user: JoinUser, tmp_path: Path
) -> None:
    """Behind a 5 Mbit/s download, bob downloads and streams; nats-server never cuts
    his connection as a slow consumer (he never asks for more than his line drains)."""
    size = 8 * MiB  # asked for at once, it takes 13 s to cross: past a 10 s write deadline
    async with wan(hub, join_user, tmp_path, Line(100, 100), Line(100, 5, 0.06), film=size) as w:
        entry = await find_entry(w.bob, w.ref, "film")
        streaming = Transfer(w.bob, w.ref, entry.hash, size=entry.size)
        async with await streaming.open():

            async def stream() -> int:
                return sum([len(piece) async for piece in streaming.read(0, 2 * MiB)])

            _, streamed = await asyncio.gather(
                download(w.bob, w.ref, entry, tmp_path / "film"), stream()
            )
        reconnects = w.bob.reconnects
    assert hashlib.sha256((tmp_path / "film").read_bytes()).hexdigest() == entry.hash
    assert streamed == 2 * MiB
    assert reconnects == 0, "bob's connection was cut"


async def test_the_hub_gives_slow_receivers_time(hub: RunningHub) -> None:
    """nats-server's write deadline leaves a slow line room (its default, 10 s, cut a
    receiver whose queued chunks took longer to write)."""
    varz = (await hub.system_request("$SYS.REQ.SERVER.PING.VARZ"))["data"]
    assert varz["write_deadline"] == limits.HUB_WRITE_DEADLINE_S * 1e9 >= 30e9
