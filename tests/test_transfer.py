"""Encrypted transfer end to end: sizes, tampering, resume, restarts, access, concurrency."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from natster import endpoints, limits, wire
from natster._nats import stop_if_cancelled
from natster.catalog import Catalogs, Entry
from natster.client import remote
from natster.client.download import download, find_entry, locate, open_or_locate
from natster.client.transfer import TAPER, Transfer
from natster.errors import (
    EntryNotFound,
    IntegrityError,
    NotShared,
    RemoteError,
    TransferError,
    TransferStalled,
)
from natster.security import XKey
from natster.services.catalog_service import CatalogServer
from natster.services.transfer import Transfers

from .conftest import World, eventually, key, serving_of, shared_and_imported

CHUNK = limits.CHUNK_SIZE * limits.MAX_SPAN  # the largest reply: files of many of them
SIZES = {"empty": 0, "one": 1, "chunk": CHUNK, "chunk+1": CHUNK + 1, "3.5 chunks": CHUNK * 7 // 2}


async def closed_all(w: World) -> None:
    """Every transfer bob opened is closed (a close is sent, not waited for)."""

    async def none_open() -> bool:
        return w.server.transfers.count(key(w.bob)) == 0

    await eventually(none_open, 2.0)


async def add_files(w: World, files: dict[str, bytes]) -> remote.CatalogRef:
    for name, data in files.items():
        (w.media / name).write_bytes(data)
    with Catalogs(w.alice.home.path) as mine:
        mine.rescan("films")
    return await shared_and_imported(w)


async def fetch(w: World, ref: remote.CatalogRef, path: str, out: Path) -> int:
    entry = await find_entry(w.bob, ref, path)
    return await download(w.bob, ref, entry, out)


async def test_sizes_around_chunk_boundaries(world: World, tmp_path: Path) -> None:
    files = {f"{name}.bin": os.urandom(size) for name, size in SIZES.items()}
    ref = await add_files(world, files)
    for name, data in files.items():
        out = tmp_path / "got" / name
        assert await fetch(world, ref, name, out) == len(data)
        assert out.read_bytes() == data
        assert not out.with_name(name + ".part").exists()


@pytest.mark.heavy
async def test_by_hash_and_a_big_sparse_file(world: World, tmp_path: Path) -> None:
    """256 chunk requests, and nats-server keeps no reply mapping of any of them."""
    big = world.media / "big.img"
    with big.open("wb") as handle:
        handle.truncate(256 * 1024 * 1024 + 123)
    ref = await add_files(world, {})
    digest = hashlib.sha256()
    with big.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    entry = await find_entry(world.bob, ref, digest.hexdigest())
    assert entry.path == "big.img"
    out = tmp_path / "big.img"
    await download(world.bob, ref, entry, out)
    assert out.stat().st_size == big.stat().st_size
    alice = await world.hub.account_info(serving_of(world.hub, key(world.alice)))
    (export,) = alice["decoded_jwt"]["nats"]["exports"]
    assert export["response_type"] == "Singleton"
    assert not alice.get("responses"), f"{len(alice['responses'])} reply mappings left behind"


def _tamper(monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """Chunks are served concurrently, so each case waits for what it needs explicitly.
    One chunk per request (the server offers no spans), so each is tampered with alone."""
    monkeypatch.setattr(limits, "MAX_SPAN", 1)
    real = Transfers.chunk
    first_sent: asyncio.Future[bytearray] | None = None

    async def tampered(
        self: Transfers, requester: str, catalog: str, request: wire.TransferChunkRequest
    ) -> bytearray:
        nonlocal first_sent
        if first_sent is None:
            first_sent = asyncio.get_running_loop().create_future()
        sealed = await real(self, requester, catalog, request)
        if request.index == 1 and not first_sent.done():
            first_sent.set_result(sealed)
        if how == "flip" and request.index == 2:
            return sealed[:100] + bytes([sealed[100] ^ 1]) + sealed[101:]
        if how == "swap" and request.index in (2, 3):  # 2 and 3 trade places
            other = request.model_copy(update={"index": 5 - request.index})
            return await real(self, requester, catalog, other)
        if how == "replay" and request.index == 2:  # chunk 1's very bytes, again
            return await asyncio.wait_for(asyncio.shield(first_sent), 10)
        return sealed

    monkeypatch.setattr(Transfers, "chunk", tampered)


@pytest.mark.parametrize("how", ["flip", "swap", "replay"])
async def test_tampering_is_detected_and_nothing_is_kept(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    ref = await add_files(world, {"film.bin": os.urandom(CHUNK * 4)})
    out = tmp_path / "film.bin"
    out.write_bytes(b"what was there before")
    _tamper(monkeypatch, how)
    with pytest.raises(IntegrityError, match="nothing was kept"):
        await fetch(world, ref, "film.bin", out)
    assert out.read_bytes() == b"what was there before"


@pytest.mark.parametrize("how", ["fewer", "short"])
async def test_a_span_cut_short_is_refused(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """A server answers a span (several chunks asked for at once) with less: fewer
    chunks sealed as what they are, or sealed as the span asked for but short."""
    data = os.urandom(limits.CHUNK_SIZE * 8)
    ref = await add_files(world, {"film.bin": data})
    real, spans = Transfers.chunk, []

    async def tampered(
        self: Transfers, requester: str, catalog: str, request: wire.TransferChunkRequest
    ) -> bytearray:
        if request.count == 1:
            return await real(self, requester, catalog, request)
        spans.append(request.count)
        if how == "fewer":  # the server's own seal, of one chunk less
            fewer = request.model_copy(update={"count": request.count - 1})
            return await real(self, requester, catalog, fewer)
        transfer = self.get(requester, catalog, request.transfer)
        start = request.index * limits.CHUNK_SIZE
        piece = data[start : start + (request.count - 1) * limits.CHUNK_SIZE]
        aad = wire.chunk_aad(request.transfer, request.index, request.count)
        return bytearray(transfer.channel.seal(piece, aad=aad))

    monkeypatch.setattr(Transfers, "chunk", tampered)
    out = tmp_path / "film.bin"
    with pytest.raises(IntegrityError, match="nothing was kept"):
        await fetch(world, ref, "film.bin", out)
    assert spans, "the download asked for spans"
    assert not out.exists()


async def test_a_newer_server_offering_larger_spans_is_asked_for_ours(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that offers more chunks per request than this receiver asks for at most
    is not refused (it may be newer), and is never asked for more than ours."""
    data = os.urandom(limits.CHUNK_SIZE * 100)
    ref = await add_files(world, {"f.bin": data})
    real_open, real_chunk, counts = Transfers.open, Transfers.chunk, []

    def generous(self: Transfers, *args: Any, **kwargs: Any) -> wire.TransferOpened:
        opened = real_open(self, *args, **kwargs)
        self._open[opened.transfer].span = 64  # what it would serve
        return opened.model_copy(update={"span": 64})

    async def counting(
        self: Transfers, requester: str, catalog: str, request: wire.TransferChunkRequest
    ) -> bytearray:
        counts.append(request.count)
        return await real_chunk(self, requester, catalog, request)

    monkeypatch.setattr(Transfers, "open", generous)
    monkeypatch.setattr(Transfers, "chunk", counting)
    monkeypatch.setattr(limits, "SPAN_TIME_S", 10.0)  # every span wants more than ours
    await fetch(world, ref, "f.bin", tmp_path / "f.bin")
    assert (tmp_path / "f.bin").read_bytes() == data
    assert max(counts) == limits.MAX_SPAN  # spans grew to ours, never past
    # and shrank towards the end: each at most half of what was still to ask for
    left = 100
    for count in counts:
        assert count <= max(1, left // TAPER)
        left -= count
    assert counts[-TAPER:] == [1] * TAPER


async def test_a_span_larger_than_offered_is_refused(world: World) -> None:
    """Spoken on the wire: a count over the server's span, or over any span, is a 400."""
    ref = await add_files(world, {"f.bin": os.urandom(limits.CHUNK_SIZE * 40)})
    entry = await find_entry(world.bob, ref, "f.bin")
    async with await Transfer(world.bob, ref, entry.hash).open() as transfer:
        assert transfer.span == limits.MAX_SPAN
        subject = ref.subject(world.bob.account, endpoints.TRANSFER_CHUNK)
        for count in (limits.MAX_SPAN + 1, 0, -1):
            body = {"transfer": transfer._opened.transfer if transfer._opened else "", "index": 0}
            reply = await world.bob.request_raw(
                subject, json.dumps({**body, "count": count}).encode()
            )
            with pytest.raises(RemoteError) as refused:
                wire.unwrap(reply)
            assert refused.value.status == 400
        whole = await world.bob.request_raw(
            subject, json.dumps({**body, "count": limits.MAX_SPAN}).encode()
        )
        assert whole.startswith(b"xkv1")  # as many as offered: one reply


async def test_a_chunk_from_another_transfer_is_refused(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ref = await add_files(world, {"a.bin": os.urandom(CHUNK * 3)})
    entry = await find_entry(world.bob, ref, "a.bin")
    monkeypatch.setattr(limits, "MAX_SPAN", 1)  # one chunk per request: chunk 1 is one reply
    await download(world.bob, ref, entry, tmp_path / "first")
    stolen: list[bytearray] = []
    real = Transfers.chunk

    async def keep(
        self: Transfers, requester: str, catalog: str, request: wire.TransferChunkRequest
    ) -> bytearray:
        sealed = await real(self, requester, catalog, request)
        if stolen and request.index == 1:
            return stolen[0]  # chunk 1 of an earlier transfer: same place, other keys
        if not stolen and request.index == 1:
            stolen.append(sealed)
        return sealed

    monkeypatch.setattr(Transfers, "chunk", keep)
    await download(world.bob, ref, entry, tmp_path / "second")  # records chunk 1
    with pytest.raises(IntegrityError):
        await download(world.bob, ref, entry, tmp_path / "third")
    assert not (tmp_path / "third").exists()


async def test_an_interrupted_download_resumes(world: World, tmp_path: Path) -> None:
    data = os.urandom(CHUNK * 10 + 17)
    ref = await add_files(world, {"long.bin": data})
    entry = await find_entry(world.bob, ref, "long.bin")
    out = tmp_path / "long.bin"

    def kill_at_half(done: int, total: int) -> None:
        if done >= total // 2:
            raise KeyboardInterrupt  # the receiver is killed

    with pytest.raises(KeyboardInterrupt):
        await download(world.bob, ref, entry, out, progress=kill_at_half)
    assert not out.exists()
    assert out.with_name("long.bin.part").stat().st_size >= CHUNK * 5
    again = await download(world.bob, ref, entry, out)
    assert again < len(data) * 0.6  # only the rest came over the wire
    assert out.read_bytes() == data


async def test_a_damaged_part_file_is_caught(world: World, tmp_path: Path) -> None:
    data = os.urandom(CHUNK * 4)
    ref = await add_files(world, {"f.bin": data})
    entry = await find_entry(world.bob, ref, "f.bin")
    out = tmp_path / "f.bin"
    out.with_name("f.bin.part").write_bytes(b"\x00" * CHUNK * 2)  # not the file's bytes
    with pytest.raises(IntegrityError):
        await download(world.bob, ref, entry, out)
    assert not out.exists()
    await download(world.bob, ref, entry, out)  # the bad part is gone: a clean retry works
    assert out.read_bytes() == data


async def test_a_server_restart_mid_transfer(world: World, tmp_path: Path) -> None:
    data = os.urandom(CHUNK * 12)
    ref = await add_files(world, {"f.bin": data})
    entry = await find_entry(world.bob, ref, "f.bin")
    restarted: list[asyncio.Task[None]] = []

    async def restart() -> None:
        await world.server.stop()
        world.server = CatalogServer(world.alice, world.alice.home.path, ["films"])
        await world.server.start()

    def halfway(done: int, total: int) -> None:
        if done >= total // 3 and not restarted:
            restarted.append(asyncio.get_running_loop().create_task(restart()))

    out = tmp_path / "f.bin"
    await download(world.bob, ref, entry, out, progress=halfway)
    await restarted[0]
    assert out.read_bytes() == data


async def test_access(world: World, tmp_path: Path) -> None:
    data = os.urandom(CHUNK * 12)
    ref = await add_files(world, {"f.bin": data})
    entry = await find_entry(world.bob, ref, "f.bin")
    carol_ref = remote.CatalogRef(key(world.alice), "films", "films", local=False)
    with pytest.raises(NotShared):
        await download(world.carol, carol_ref, entry, tmp_path / "carol")
    session = await Transfer(world.bob, ref, entry.hash, size=entry.size).open()
    assert len(await session.chunk(0, bytearray(CHUNK))) == limits.CHUNK_SIZE
    await world.alice.record_unshare("films", key(world.bob))  # the event alone: the route stays

    async def cut() -> bool:
        return not world.server.access.allows(key(world.bob), "films")

    await eventually(cut, 2.0)
    with pytest.raises(RemoteError, match="not shared") as refused:
        await session.chunk(
            1, bytearray(CHUNK)
        )  # an unshare stops new chunks of a running transfer
    assert refused.value.status == 403


@pytest.mark.heavy
async def test_twenty_downloads_at_once(world: World, tmp_path: Path) -> None:
    files = {f"f{i}.bin": os.urandom(CHUNK * 2 + i) for i in range(5)}
    ref = await add_files(world, files)
    entries = [await find_entry(world.bob, ref, name) for name in files]
    outs = [tmp_path / f"out{i}" for i in range(20)]
    await asyncio.gather(
        *(download(world.bob, ref, entries[i % 5], out) for i, out in enumerate(outs))
    )
    for i, out in enumerate(outs):
        assert out.read_bytes() == files[f"f{i % 5}.bin"]
    await closed_all(world)


async def test_busy_stalled_and_abandoned(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ref = await add_files(world, {"f.bin": os.urandom(CHUNK * 3)})
    entry = await find_entry(world.bob, ref, "f.bin")
    monkeypatch.setattr(limits, "MAX_TRANSFERS_PER_ACCOUNT", 1)
    body = wire.TransferOpenRequest(hash=entry.hash, xkey="X" + "A" * 55)
    with pytest.raises(RemoteError):
        await remote._request(world.bob, ref, endpoints.TRANSFER_OPEN, body)  # not a valid xkey
    from natster.security import XKey

    body = wire.TransferOpenRequest(hash=entry.hash, xkey=XKey.create().public_key)
    await remote._request(world.bob, ref, endpoints.TRANSFER_OPEN, body)  # one, left open
    with pytest.raises(RemoteError, match="busy") as busy:
        await remote._request(world.bob, ref, endpoints.TRANSFER_OPEN, body)
    assert busy.value.status == 429
    monkeypatch.setattr(limits, "TRANSFER_IDLE_S", 0)
    assert world.server.transfers.reap() == 1  # the abandoned one is freed
    monkeypatch.setattr(limits, "TRANSFER_IDLE_S", 30)

    async def silent(self: Transfers, requester: str, catalog: str, request: object) -> bytes:
        await asyncio.sleep(3600)
        return b""

    monkeypatch.setattr(Transfers, "chunk", silent)
    monkeypatch.setattr(limits, "STALL_S", 0.2)
    monkeypatch.setattr(limits, "CHUNK_RETRIES", 1)
    with pytest.raises(TransferStalled, match="stalled"):
        await asyncio.wait_for(download(world.bob, ref, entry, tmp_path / "x"), 20)


@pytest.mark.parametrize("lasting", [False, True])
@pytest.mark.heavy
async def test_a_network_cut_mid_download(world: World, tmp_path: Path, lasting: bool) -> None:
    """The connection drops mid-download. A brief cut: the connection comes back and the
    download finishes. A lasting one: a clear error, the .part kept, then a resume."""
    from natster import _nats
    from natster.client import NatsterClient
    from natster.errors import ConnectionFailed

    data = os.urandom(CHUNK * 12)
    ref = await add_files(world, {"f.bin": data})
    entry = await find_entry(world.bob, ref, "f.bin")
    hub_port = int(world.hub.info.local_url.rsplit(":", 1)[1])
    links: list[asyncio.StreamWriter] = []
    relays: set[asyncio.Task[None]] = set()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while block := await reader.read(65536):
                writer.write(block)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if lasting and cut:
            writer.close()  # the network stays away
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", hub_port)
        links.extend([writer, up_writer])
        for task in (relay(reader, up_writer), relay(up_reader, writer)):
            relays.add(asyncio.ensure_future(task))

    cut: list[bool] = []
    proxy = await asyncio.start_server(accept, "127.0.0.1", 0)
    url = f"tls://127.0.0.1:{proxy.sockets[0].getsockname()[1]}"
    home = world.bob.home
    nc = await _nats.connect(url, home.creds(), name="bob-via-proxy", trust=home.trust(home.load()))
    bob = NatsterClient(home, home.load(), nc)

    def cut_at_half(done: int, total: int) -> None:
        if done >= total // 2 and not cut:
            cut.append(True)
            for link in links:
                link.transport.abort()  # the network goes away
            links.clear()

    out = tmp_path / "f.bin"
    try:
        if not lasting:
            await download(bob, ref, entry, out, progress=cut_at_half)
            assert cut
            assert out.read_bytes() == data
            return
        with pytest.raises(ConnectionFailed, match="resume"):
            await download(bob, ref, entry, out, progress=cut_at_half)
    finally:
        await nc.close()
        proxy.close()
    assert not out.exists()
    kept = out.with_name("f.bin.part").stat().st_size
    assert kept >= CHUNK * 6
    again = await download(world.bob, ref, entry, out)
    assert again <= len(data) - kept
    assert out.read_bytes() == data


async def test_a_download_names_a_file_a_folder_or_a_hash(world: World) -> None:
    """locate: one contents request tells a file from a folder; a hash's start and a name
    that is neither still get find_entry's answers."""
    ref = await add_files(world, {"f.bin": b"f", "trips.txt": b"d"})  # and trips/ (the world's)
    entry = await locate(world.bob, ref, "f.bin")
    assert isinstance(entry, wire.EntryRow)
    assert entry.path == "f.bin"
    assert await locate(world.bob, ref, "trips") == "trips/"  # not trips.txt
    assert await locate(world.bob, ref, "trips/") == "trips/"
    by_start = await locate(world.bob, ref, entry.hash[:12])
    assert isinstance(by_start, wire.EntryRow)
    assert by_start.path == "f.bin"
    with pytest.raises(EntryNotFound, match="has the path 'nowhere'"):
        await locate(world.bob, ref, "nowhere")


async def test_a_file_named_by_its_path_is_opened_in_one_request(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """open_or_locate: a file's path is opened at once (no listing first: one round trip
    to the owner less); a folder, a hash's start, still as locate says."""
    data = os.urandom(CHUNK + 5)
    ref = await add_files(world, {"f.bin": data})
    listed: list[bytes] = []
    contents = world.server.browsing.contents

    async def counted(catalog: str, payload: bytes) -> object:
        listed.append(payload)
        return await contents(catalog, payload)

    monkeypatch.setattr(world.server.browsing, "contents", counted)
    opened = await open_or_locate(world.bob, ref, "f.bin")
    assert isinstance(opened, Transfer)
    assert (opened.path, opened.size) == ("f.bin", len(data))
    assert opened.hash == hashlib.sha256(data).hexdigest()
    assert await download(world.bob, ref, opened, tmp_path / "f.bin") == len(data)
    assert (tmp_path / "f.bin").read_bytes() == data
    assert listed == []
    await closed_all(world)
    assert await open_or_locate(world.bob, ref, "trips") == "trips/"  # a folder: looked up
    by_start = await open_or_locate(world.bob, ref, opened.hash[:12])
    assert isinstance(by_start, Transfer)
    assert by_start.path == "f.bin"
    await by_start.close()
    with pytest.raises(EntryNotFound, match="has the path 'nowhere'"):
        await open_or_locate(world.bob, ref, "nowhere")


async def test_chunk_sizes_fit_the_hub_and_the_use(world: World, tmp_path: Path) -> None:
    ref = await add_files(world, {"a.bin": os.urandom(10)})
    entry = await find_entry(world.bob, ref, "a.bin")
    assert world.bob.connection.max_payload == limits.HUB_MAX_PAYLOAD
    async with await Transfer(world.bob, ref, entry.hash).open() as download_:
        assert download_.chunk_size == limits.CHUNK_SIZE  # a download: large chunks
    await closed_all(world)  # closed on leaving
    player = await Transfer(world.bob, ref, entry.hash).open()
    assert player.flow(stream=True).span() == limits.STREAM_FIRST_SPAN  # a player: small first
    assert player.flow().span() == limits.DOWNLOAD_FIRST_SPAN  # a download: larger
    pieces = [piece async for piece in player.read(0, 10)]
    assert pieces == [(world.media / "a.bin").read_bytes()]
    assert [piece async for piece in player.read(3, 5)] == [pieces[0][3:5]]
    await player.close()
    with pytest.raises(TransferError, match="closed"):
        await player.chunk(0, bytearray(limits.CHUNK_SIZE))


def test_requests_carry_only_what_a_server_from_before_them_knows() -> None:
    """A server refuses fields it does not know: a chunk of one asks without ``count``
    (servers before spans), an open by hash without ``path`` (before open-by-path)."""
    xkey = XKey.create().public_key
    chunk = wire.TransferChunkRequest(transfer="a" * 32, index=3)
    assert json.loads(chunk.encode()) == {"transfer": "a" * 32, "index": 3}
    opening = wire.TransferOpenRequest(hash="0" * 64, xkey=xkey, chunk_size=CHUNK)
    assert set(json.loads(opening.encode())) == {"hash", "xkey", "chunk_size"}
    spanning = wire.TransferChunkRequest(transfer="a" * 32, index=3, count=2)
    assert json.loads(spanning.encode())["count"] == 2


def test_the_server_caps_chunks_at_what_its_hub_carries(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x" * 100)
    transfers = Transfers()
    try:
        request = wire.TransferOpenRequest(
            hash="0" * 64, xkey=XKey.create().public_key, chunk_size=limits.MAX_CHUNK_SIZE
        )
        small_hub = 1024 * 1024  # nats-server's default max_payload
        entry = Entry("f", 100, 0, "0" * 64, "application/octet-stream")
        opened = transfers.open("A" * 56, "c", str(tmp_path), entry, request, small_hub)
        assert opened.chunk_size == small_hub - limits.CHUNK_HEADROOM
    finally:
        transfers.close_all()


async def test_a_folder_in_the_way_of_the_final_path_is_an_error_in_words(
    world: World, tmp_path: Path
) -> None:
    data = os.urandom(1000)
    ref = await add_files(world, {"a.bin": data})
    blocked = tmp_path / "a.bin"
    (blocked / "inside").mkdir(parents=True)
    with pytest.raises(TransferError, match=r"cannot move a\.bin\.part to"):
        await fetch(world, ref, "a.bin", blocked)
    assert (tmp_path / "a.bin.part").read_bytes() == data  # verified, kept for another try


async def test_a_cancel_that_a_reply_swallowed_still_stops_the_download() -> None:
    async def reply_won() -> int:  # asyncio.wait_for on 3.11 when the reply races a cancel
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            return 1
        return 0

    async def receiving() -> None:
        while True:
            await asyncio.create_task(reply_won())
            stop_if_cancelled()

    task = asyncio.create_task(receiving())
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.wait({task}, timeout=5)
    assert task.cancelled()


async def test_a_name_of_255_bytes_downloads(world: World, tmp_path: Path) -> None:
    """``<name>.part`` would pass the file system's 255 bytes: a shorter one is used."""
    name = "é" * 122 + "long.bin"  # 252 bytes: the name fits, name + ".part" does not
    assert len(name.encode()) <= 255
    assert len(name.encode()) + len(".part") > 255
    data = os.urandom(CHUNK + 5)
    ref = await add_files(world, {name: data, "short.bin": b"s"})
    out = tmp_path / "mirror"
    for entry in [e async for page in remote.pages(world.bob, ref) for e in page.entries]:
        await download(world.bob, ref, entry, out / entry.path)
    assert (out / name).read_bytes() == data
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [name, "short.bin", "music.mp3", "trips"]
    )
