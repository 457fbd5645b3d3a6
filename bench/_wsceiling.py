"""How fast Chromium itself takes in a WebSocket on this machine: the ceiling under
anything the browser does over NATS.

A bare WebSocket sender (this module, on loopback, no TLS, no NATS, nothing to decrypt)
sends ``mib`` MiB of binary messages of a given size to a page of its own, which counts
them. nats-server sends a browser (a ``Mozilla/`` User-Agent) frames of 4 KiB at most
(``wsFrameSizeForBrowsers`` in its websocket.go); other clients get large ones.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
from typing import Any

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455's
_PAGE = b"<!doctype html><title>ws</title>"
_COUNT_IN_PAGE = """async ([url, total]) => await new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    let got = 0, began = 0;
    ws.onerror = () => reject(new Error("websocket error"));
    ws.onopen = () => { began = performance.now(); };
    ws.onmessage = (event) => {
        got += event.data.byteLength;
        if (got < total) return;
        resolve({ got, seconds: (performance.now() - began) / 1000 });
        ws.close();
    };
})"""


def _frame(size: int) -> bytes:
    """One unmasked binary WebSocket message of ``size`` random bytes."""
    if size < 126:
        head = bytes([0x82, size])
    elif size < 1 << 16:
        head = bytes([0x82, 126]) + struct.pack(">H", size)
    else:
        head = bytes([0x82, 127]) + struct.pack(">Q", size)
    return head + os.urandom(size)


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, total: int) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        if fields.get("upgrade", "").lower() != "websocket":  # the page itself
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n")
            writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(_PAGE), _PAGE))
            await writer.drain()
            return
        accept = base64.b64encode(
            hashlib.sha1(fields["sec-websocket-key"].encode() + _GUID).digest()
        )
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n")
        writer.write(b"Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept)
        size = int(lines[0].split()[1].strip("/"))
        message = _frame(size)
        batch = message * max(1, (1 << 20) // len(message))  # about 1 MiB per write
        sent = 0
        while sent < total:
            writer.write(batch)
            sent += len(batch) // len(message) * size
            await writer.drain()
        await reader.read()  # until the page closes it
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def ceiling(browser: Any, mib: int, sizes: tuple[int, ...]) -> dict[str, float]:
    """MB/s a new page of ``browser`` takes in, per message size."""
    total = mib * 1024 * 1024
    server = await asyncio.start_server(lambda r, w: _serve(r, w, total), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    page = await browser.new_page()
    try:
        await page.goto(f"http://127.0.0.1:{port}/")
        out = {}
        for size in sizes:
            got = await page.evaluate(_COUNT_IN_PAGE, [f"ws://127.0.0.1:{port}/{size}", total])
            out[str(size)] = round(got["got"] / got["seconds"] / 1e6, 1)
        return out
    finally:
        await page.close()
        server.close()
