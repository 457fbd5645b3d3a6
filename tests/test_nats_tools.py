"""Ordinary NATS tools work: the hub lets in a client that reads INFO first (as the
`nats` CLI and nats.go do by default), and `natster context export` gives it this
machine's identity. Tested with that handshake from Python."""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path

import nats
import pytest

from natster.client import NatsterClient
from natster.client.nats_context import export_context

from .conftest import RunningHub


async def test_a_client_reading_info_first_gets_it_saying_tls_is_required(
    hub: RunningHub,
) -> None:
    host, port = hub.info.local_url.removeprefix("tls://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))  # no TLS started
    try:
        line = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
    assert line.startswith(b"INFO ")
    info = json.loads(line[5:])
    assert info["tls_required"] is True


async def test_the_exported_context_connects_as_this_user_with_the_usual_handshake(
    hub: RunningHub, alice: NatsterClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    name, path = export_context(alice.home)
    assert (name, path) == ("natster-alice", tmp_path / "config/nats/context/natster-alice.json")
    context = json.loads(path.read_text())
    assert context["inbox_prefix"] == f"_INBOX_{alice.context.user}"
    secure = ssl.create_default_context(cafile=context["ca"])
    nc = await nats.connect(  # nats-py's defaults otherwise: INFO first, then TLS
        context["url"],
        user_credentials=context["creds"],
        tls=secure,
        inbox_prefix=context["inbox_prefix"],
        allow_reconnect=False,
        connect_timeout=5,
    )
    try:
        reply = await nc.request("natster.global.stats", b"", timeout=5)
        assert json.loads(reply.data)["data"]["accounts"] >= 1
    finally:
        await nc.close()
