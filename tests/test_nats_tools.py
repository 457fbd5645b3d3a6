"""Ordinary NATS tools as this machine's user: `natster context export` writes a `nats`
CLI context (creds, CA, inbox prefix, TLS first); a plain nats-py client built from it
alone connects and asks. The hub sends nothing in the clear, to them either."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from pathlib import Path

import nats
import pytest

from natster.client import NatsterClient
from natster.client.nats_context import export_context

from .conftest import RunningHub


async def test_the_hub_says_nothing_in_the_clear(hub: RunningHub) -> None:
    """A client waiting for INFO (the usual NATS handshake) hears nothing: TLS first."""
    host, port = hub.info.local_url.removeprefix("tls://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))  # no TLS started
    try:
        said = b""
        with contextlib.suppress(TimeoutError, ConnectionError):  # silence, or closed
            said = await asyncio.wait_for(reader.read(1), 1.0)
        assert said == b"", said
    finally:
        writer.close()


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
