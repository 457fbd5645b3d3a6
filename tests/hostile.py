"""A hostile catalog server, written for the attack: it speaks the wire protocol itself.

It answers on the owner's raw NATS connection exactly what a test tells it to: any
entries, any ``transfer-open`` reply, chunks sealed properly (so only natster's own
checks stand between it and the downloader's disk).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from natster import subjects, wire
from natster._nats import Client
from natster.security import Channel, XKey

from . import warm_cli

CHUNK = 64 * 1024


def entry(path: str, data: bytes, **extra: Any) -> dict[str, Any]:
    row = {
        "path": path,
        "size": len(data),
        "hash": hashlib.sha256(data).hexdigest(),
        "mime": "text/plain",
        "description": "",
    }
    return {**row, **extra}


@dataclass
class HostileServer:
    nc: Client
    catalog: str
    entries: list[dict[str, Any]]
    files: dict[str, bytes]  # by sha256
    opened: dict[str, Any] = field(default_factory=dict)  # overrides of transfer-open's reply
    next_page: str | None = None  # what every contents page says comes next
    by_path: bool = True  # opens a file by its path (False: as servers before that did)
    thumb: bytes = b""  # what every thumbnail is, sealed properly
    channels: dict[str, tuple[Channel, bytes]] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)

    async def start(self) -> None:
        pattern = subjects.catalog_listen(self.catalog, "*")
        self._sub = await self.nc.subscribe(pattern, cb=self._on)
        await self.nc.flush()

    async def stop(self) -> None:
        await self._sub.unsubscribe()

    async def _on(self, msg: Any) -> None:
        action = msg.subject.split(".")[4]
        self.seen.append(action)
        if action in ("contents", "search"):
            page = {"entries": self.entries, "next": self.next_page, "revision": 1}
            await msg.respond(wire.ok(page))
        elif action == "summary":
            owner = msg.subject  # answered with nonsense on purpose: no summary is needed
            await msg.respond(wire.ok({"name": self.catalog, "owner": owner}))
        elif action == "transfer-open":
            request = json.loads(msg.data)
            if "path" in request and not self.by_path:
                await msg.respond(wire.fail(400, "invalid request: hash: Field required"))
                return
            key_of = "hash" if "hash" in request else "path"  # as natster's server: either
            entry = next((e for e in self.entries if e[key_of] == request[key_of]), None)
            if entry is None:
                await msg.respond(wire.fail(404, "no file in that catalog has that path"))
                return
            data, path = self.files[entry["hash"]], entry["path"]
            key, transfer = XKey.create(), secrets.token_hex(16)
            self.channels[transfer] = (key.channel(request["xkey"]), data)
            reply = {
                "hash": entry["hash"],
                "transfer": transfer,
                "xkey": key.public_key,
                "size": len(data),
                "chunk_size": CHUNK,
                "chunks": -(-len(data) // CHUNK),
                "path": path,
                **self.opened,
            }
            await msg.respond(wire.ok(reply))
        elif action == "thumbnail":
            request = json.loads(msg.data)
            key = XKey.create()
            aad = wire.thumb_aad(request["hash"])
            sealed = key.channel(request["xkey"]).seal(self.thumb, aad=aad)
            encoded = base64.b64encode(sealed).decode()
            await msg.respond(wire.ok({"xkey": key.public_key, "data": encoded}))
        elif action == "transfer-chunk":
            request = json.loads(msg.data)
            channel, data = self.channels[request["transfer"]]
            index = request["index"]
            piece = data[index * CHUNK : (index + 1) * CHUNK]
            sealed = channel.seal(piece, aad=wire.chunk_aad(request["transfer"], index))
            await msg.respond(sealed)
        else:
            await msg.respond(wire.ok({"closed": True}))


async def cli(home: Path, *args: str, timeout: float = 60) -> tuple[int, str, str]:
    """The natster command as bob runs it, while this event loop serves the attacker."""
    env = {**os.environ, "NATSTER_HOME": str(home), "COLUMNS": "200"}
    done = await asyncio.to_thread(warm_cli.run, list(args), env, "", timeout)
    return done.returncode, done.stdout, done.stderr
