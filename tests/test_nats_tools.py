"""Ordinary NATS tools as this machine's user: `natster context export` writes a `nats`
CLI context (creds, CA, inbox prefix, TLS first); a plain nats-py client built from it
alone connects and asks, TLS first or (as nats.go does by default) INFO first, then TLS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest
from nats.aio.client import Client

from natster import _nats, limits
from natster.client import NatsterClient
from natster.client.nats_context import export_context
from natster.endpoints import Service
from natster.hub.tools import HUB_CONTEXT_ROLES, export_hub_contexts

from .conftest import RunningHub


async def test_a_silent_client_is_told_tls_is_required_and_nothing_else(hub: RunningHub) -> None:
    """A client waiting for INFO (the usual NATS handshake, nats.go's and the `nats`
    CLI's) hears nothing for a moment, then INFO saying TLS is required; what it then
    says in the clear is refused."""
    host, port = hub.info.local_url.removeprefix("tls://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))  # no TLS started
    try:
        with contextlib.suppress(TimeoutError):
            early = await asyncio.wait_for(reader.read(1), limits.TLS_FIRST_WAIT_S / 2)
            pytest.fail(f"the hub spoke before a TLS-first client could: {early!r}")
        line = await asyncio.wait_for(reader.readline(), limits.TLS_FIRST_WAIT_S * 3)
        assert line.startswith(b"INFO "), line
        info = json.loads(line[5:])
        assert info["tls_required"] is True
        writer.write(b'CONNECT {"verbose":false}\r\nPING\r\n')  # in the clear
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        rest = b""
        with contextlib.suppress(ConnectionError):  # a broken handshake: closed
            rest = await asyncio.wait_for(reader.read(), 5)
        assert b"PONG" not in rest, rest
        assert b"+OK" not in rest, rest
    finally:
        writer.close()


async def test_a_client_that_reads_info_first_gets_in_with_tls(
    hub: RunningHub, alice: NatsterClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nats.go's default handshake, made by nats-py: INFO first, then TLS, then CONNECT."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    _, path = export_context(alice.home)
    context = json.loads(path.read_text())
    nc = await nats.connect(
        context["url"],
        user_credentials=context["creds"],
        tls=ssl.create_default_context(cafile=context["ca"]),
        tls_handshake_first=False,
        inbox_prefix=context["inbox_prefix"],
        allow_reconnect=False,
        connect_timeout=5,
    )
    try:
        assert nc._server_info["tls_required"] is True
        reply = await nc.request("natster.global.stats", b"", timeout=5)
        assert json.loads(reply.data)["data"]["accounts"] >= 1
    finally:
        await nc.close()


async def test_natster_asks_again_when_its_tls_handshake_came_late(
    hub: RunningHub, alice: NatsterClient
) -> None:
    """On a machine so busy that natster's TLS handshake reaches the hub after the hub
    began the INFO-first handshake, natster still sends nothing in the clear: it fails
    that try and connects again."""
    host, port = hub.info.local_url.removeprefix("tls://").rsplit(":", 1)
    firsts: list[bytes] = []

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        first = await reader.read(1)
        firsts.append(first)
        if len(firsts) == 1:  # the first client's handshake is held past the hub's wait
            await asyncio.sleep(limits.TLS_FIRST_WAIT_S * 1.5)
        up_writer.write(first)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    proxy = await asyncio.start_server(relay, "127.0.0.1", 0)
    proxy_port = proxy.sockets[0].getsockname()[1]
    try:
        home = alice.home
        nc = await _nats.connect(
            f"tls://127.0.0.1:{proxy_port}",
            home.creds(),
            name="late",
            trust=home.trust(home.load()),
        )
        try:
            reply = await nc.request("natster.global.stats", b"", timeout=5)
            assert json.loads(reply.data)["data"]["accounts"] >= 1
        finally:
            await nc.close()
    finally:
        proxy.close()
    assert len(firsts) == 2, firsts  # the late try, then one in time
    assert set(firsts) == {b"\x16"}  # each began with a TLS handshake record


async def test_the_exported_context_connects_as_this_user(
    hub: RunningHub, alice: NatsterClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    name, path = export_context(alice.home)
    assert (name, path) == ("natster-alice", tmp_path / "config/nats/context/natster-alice.json")
    context = json.loads(path.read_text())
    assert context["inbox_prefix"] == f"_INBOX_{alice.context.user}"
    secure = ssl.create_default_context(cafile=context["ca"])
    assert context["tls_first"] is True
    nc = await nats.connect(  # nats-py, told only what the context says
        context["url"],
        user_credentials=context["creds"],
        tls=secure,
        tls_handshake_first=context["tls_first"],
        inbox_prefix=context["inbox_prefix"],
        allow_reconnect=False,
        connect_timeout=5,
    )
    try:
        reply = await nc.request("natster.global.stats", b"", timeout=5)
        assert json.loads(reply.data)["data"]["accounts"] >= 1
    finally:
        await nc.close()


async def test_the_hubs_own_accounts_are_nats_contexts_for_its_operator(
    hub: RunningHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`natster hub context`: the system account sees the servers (`nats server ls`), the
    services' accounts list their micro services (`nats micro ls`), each from the
    context's file alone, reading INFO first as the `nats` CLI does by default."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    written = dict(export_hub_contexts(hub.dir))
    assert list(written) == ["natster-hub-sys", "natster-hub-global", "natster-hub-accounts"]
    seeds = {hub.dir.creds(role).seed for role in HUB_CONTEXT_ROLES}
    for path in written.values():
        text = path.read_text()
        assert not any(seed in text for seed in seeds)  # it points at the creds
        creds = Path(json.loads(text)["creds"])
        assert creds.stat().st_mode & 0o077 == 0

    async def connected(name: str) -> Client:
        context = json.loads(written[name].read_text())
        return await nats.connect(
            context["url"],
            user_credentials=context["creds"],
            tls=ssl.create_default_context(cafile=context["ca"]),
            tls_handshake_first=False,
            allow_reconnect=False,
            connect_timeout=5,
        )

    async def replies(nc: Client, subject: str) -> list[dict[str, Any]]:
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        await nc.publish(subject, b"", reply=inbox)
        found = []
        with contextlib.suppress(nats.errors.TimeoutError):
            while True:
                msg = await sub.next_msg(timeout=1)
                if msg.data:
                    found.append(json.loads(msg.data))
        return found

    system = await connected("natster-hub-sys")
    try:
        servers = await replies(system, "$SYS.REQ.SERVER.PING")
        assert [s["server"]["name"] for s in servers] == [hub.dir.load().node]
    finally:
        await system.close()
    for name, service in (
        ("natster-hub-global", Service.GLOBAL),
        ("natster-hub-accounts", Service.ACCOUNTS),
    ):
        nc = await connected(name)
        try:
            assert {info["name"] for info in await replies(nc, "$SRV.INFO")} == {service.value}
        finally:
            await nc.close()
