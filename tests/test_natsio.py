"""natster's receive path for nats-py: same messages as nats-py's own, fewer copies."""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path
from typing import Any

import nats.errors
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nats.aio.client import Client
from nats.protocol.parser import AWAITING_CONTROL_LINE, Parser

from natster import _nats, _natsio
from natster.client import Home, join
from natster.client.serving import serving_grant
from natster.hub import Hub, HubDir, mint_invite
from natster.security import Creds, KeyKind, KeyPair, parse_creds

from .conftest import free_port

LARGE = _natsio.LARGE
ECHO = "echo.natster.catalog.size"  # a subject a serving user may answer on


class Recorder:
    """What the parser hands to nats-py's client, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    async def _process_msg(
        self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None
    ) -> None:
        self.seen.append(("msg", sid, bytes(subject), bytes(reply), bytes(data), headers))

    async def _process_ping(self) -> None:
        self.seen.append(("ping",))

    async def _process_pong(self) -> None:
        self.seen.append(("pong",))

    async def _process_info(self, info: dict[str, Any]) -> None:
        self.seen.append(("info", info))

    async def _process_err(self, message: str) -> None:
        self.seen.append(("err", message))


SIZES = st.sampled_from([0, 1, 2, 100, LARGE - 1, LARGE, LARGE + 1, 3 * LARGE + 5])


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["msg", "msg-reply", "hmsg", "ping", "pong", "ok", "info"]))
    if kind in ("ping", "pong", "ok"):
        return {"ping": b"PING\r\n", "pong": b"PONG\r\n", "ok": b"+OK\r\n"}[kind]
    if kind == "info":
        return b'INFO {"max_payload":1048576}\r\n'
    size = draw(SIZES)
    body = random.Random(draw(st.integers(0, 1000))).randbytes(size)
    sid = draw(st.integers(1, 99))
    if kind == "hmsg":
        headers = b"NATS/1.0\r\nA: b\r\n\r\n"
        line = f"HMSG s.{sid} {sid} {len(headers)} {len(headers) + size}\r\n".encode()
        return line + headers + body + b"\r\n"
    reply = " _INBOX.x" if kind == "msg-reply" else ""
    return f"MSG s.{sid} {sid}{reply} {size}\r\n".encode() + body + b"\r\n"


async def feed(parser: Parser, stream: bytes, cuts: list[int], blocks: type = bytes) -> None:
    at = 0
    for cut in [*sorted({min(c, len(stream)) for c in cuts}), len(stream)]:
        await parser.parse(blocks(stream[at:cut]))
        at = cut


@settings(max_examples=300, deadline=None)
@given(
    st.lists(frames(), max_size=8),
    st.lists(st.integers(0, 4 * LARGE), max_size=12),
    st.sampled_from([bytes, bytearray]),  # a socket's reads, or TLS's decrypted blocks
)
async def test_any_split_of_any_stream_parses_as_nats_py_does(
    stream_frames: list[bytes], cuts: list[int], blocks: type
) -> None:
    stream = b"".join(stream_frames)
    stock, bulk = Recorder(), Recorder()
    await feed(Parser(stock), stream, cuts)
    ours = _natsio.BulkParser(bulk)
    await feed(ours, stream, cuts, blocks)
    assert bulk.seen == stock.seen
    assert len(bulk.seen) == len(stream_frames) - sum(f == b"+OK\r\n" for f in stream_frames)
    assert ours.state == AWAITING_CONTROL_LINE
    assert not ours.buf


async def test_a_large_payload_is_gathered_into_its_own_buffer() -> None:
    kept: list[bytes] = []

    class Keep(Recorder):
        async def _process_msg(
            self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None
        ) -> None:
            kept.append(data)

    parser = _natsio.BulkParser(Keep())
    body = os.urandom(LARGE)
    stream = f"MSG a 1 {LARGE}\r\n".encode() + body + b"\r\nMSG b 2 2\r\nhi\r\n"
    for piece in (stream[:10], stream[10:1000], stream[1000:LARGE], stream[LARGE:]):
        await parser.parse(piece)
    assert [bytes(data) for data in kept] == [body, b"hi"]
    assert [type(data) for data in kept] == [bytearray, bytes]  # the large one: not copied
    kept.clear()
    await _natsio.BulkParser(Keep()).parse(stream)  # all in one read
    assert [bytes(data) for data in kept] == [body, b"hi"]
    assert [type(data) for data in kept] == [bytearray, bytes]


async def test_a_reset_drops_a_half_gathered_payload() -> None:
    seen = Recorder()
    parser = _natsio.BulkParser(seen)
    await parser.parse(f"MSG a 1 {LARGE}\r\n".encode() + b"x" * 10)
    parser.reset()  # what nats-py does on a reconnect
    await parser.parse(b"MSG b 2 3\r\nabc\r\n")
    assert seen.seen == [("msg", 2, b"b", b"", b"abc", None)]


async def _serving_creds(url: str, home: Home) -> Creds:
    user = KeyPair.create(KeyKind.USER)
    own = parse_creds(home.creds_file.read_text())
    nc = await _nats.connect(url, own, name="alice", trust=home.trust(home.load()))
    try:
        grant = await serving_grant(nc, user.public_key)
    finally:
        await nc.close()
    return Creds(jwt=grant.jwt, seed=user.seed)


async def test_natster_connections_read_in_bulk_and_ride_out_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "hub"
    first = Hub(path, port=free_port())
    info = await first.start()
    home = Home(tmp_path / "alice")
    await join((await mint_invite(HubDir(path), 600)).encode(), home=home, name="alice")
    creds = await _serving_creds(info.url, home)  # an account whose messages may be large
    bodies = {n: os.urandom(n) for n in (0, 1, LARGE - 1, LARGE, 1_000_000)}
    running = first
    trust = home.trust(home.load())
    answering = await _nats.connect(info.url, creds, name="answering", trust=trust, reconnect=True)
    asking = await _nats.connect(info.url, creds, name="asking", trust=trust, reconnect=True)
    try:
        assert isinstance(asking._ps, _natsio.BulkParser)
        assert isinstance(asking._transport, _natsio.BulkTransport)

        async def answer(msg: Any) -> None:  # large answers without nats-py's copies
            await _natsio.publish(answering, msg.reply, bodies[int(msg.data)])

        await answering.subscribe(ECHO, cb=answer)
        await answering.flush()

        async def all_sizes() -> None:
            for _ in range(50):  # a new account's first subscription: seen once, rarely late
                try:
                    await asking.request(ECHO, b"0", timeout=5)
                    break
                except nats.errors.NoRespondersError:
                    await asyncio.sleep(0.1)
            replies = await asyncio.gather(
                *(asking.request(ECHO, str(n).encode(), timeout=5) for n in bodies)
            )
            assert [reply.data for reply in replies] == list(bodies.values())

        await all_sizes()
        await first.stop()
        running = Hub(path)
        await running.start()
        for _ in range(100):  # both reconnect (0.5 s apart) and subscribe again
            if asking.is_connected and answering.is_connected:
                break
            await asyncio.sleep(0.1)
        await answering.flush()
        await all_sizes()
        with pytest.raises(nats.errors.MaxPayloadError):
            await _natsio.publish(asking, ECHO, bytearray(asking.max_payload + 1))
        await asking.close()
        with pytest.raises(nats.errors.ConnectionClosedError):
            await _natsio.publish(asking, ECHO, bytearray(LARGE))
    finally:
        await asking.close()
        await answering.close()
        await running.stop()


def test_an_untested_nats_py_keeps_its_own_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_natsio, "nats_client_version", "9.0.0")
    client = _natsio.tune(Client())
    assert type(client._ps) is Parser
    assert not isinstance(client._transport, _natsio.BulkTransport)
