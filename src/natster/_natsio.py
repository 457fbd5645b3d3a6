"""nats-py's receive path, tuned for natster's large messages (transfer chunks of up to 8 MiB).

Stock nats-py copies each received byte about six times on its way to a message: the
stream reader appends every socket read to one buffer and copies it out again, the
parser appends that to its own buffer, then slices the payload out and copies the slice
to ``bytes``. For a download that was about a third of the downloader's CPU. Here:

- :class:`BlockReader` hands each socket read over as it came (the ``bytes`` the socket
  returned, no copy), once nats-py's handshake (which reads lines) is done;
- :class:`BulkParser` gathers a large payload straight into a buffer of its final size
  (one copy) and hands the message over with that ``bytearray`` as its data.

Everything else (control lines, small messages, messages with headers) goes through
nats-py's own code. Both classes lean on nats-py's and asyncio's internals, so they are
used only with the nats-py releases in ``CHECKED_NATS_PY``; the tests check that they
are in place on every natster connection (which fails on an untested nats-py) and that
the parser reads any split of a stream exactly as nats-py's does.
"""

# mypy: disable-error-code="attr-defined, has-type, no-untyped-call"
# (asyncio.StreamReader's private state, which typeshed does not describe; nats-py's
# transport, which has no annotations)
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import Any, SupportsIndex, cast

from nats.aio.client import Client
from nats.aio.client import __version__ as nats_client_version
from nats.aio.transport import TcpTransport
from nats.protocol import parser as _parser

CHECKED_NATS_PY = ("2.16.",)  # nats-py releases whose internals this module was tested on
LARGE = 64 * 1024  # payloads from this size on are gathered into their own buffer
READ_LIMIT = 1024 * 1024  # bytes a connection buffers before it stops reading the socket
TLS_BLOCK = 64 * 1024  # the least a TLS connection decrypts into one block
CLOSE_NOTIFY_WAIT_S = 0.05  # how long a closing TLS connection waits for the peer's close
_CRLF = 2


class BulkParser(_parser.Parser):
    """nats-py's protocol parser; large payloads skip its shared buffer."""

    def reset(self) -> None:
        super().reset()
        self._payload: bytearray | None = None
        self._filled = 0

    async def parse(self, data: bytes = b"") -> None:
        view, at, size = memoryview(data), 0, len(data)
        while True:
            if self._payload is not None:  # gathering a large payload: copy it once
                take = min(size - at, len(self._payload) - self._filled)
                self._payload[self._filled : self._filled + take] = view[at : at + take]
                self._filled += take
                at += take
                if self._filled < len(self._payload):
                    return  # more of this payload to come
                await self._deliver()
                if at == size:
                    return
                continue
            if self.state == _parser.AWAITING_CONTROL_LINE and not self.buf:
                end = data.find(b"\r\n", at, at + _parser.MAX_CONTROL_LINE_SIZE)
                if data.startswith(b"MSG ", at) and end >= 0:
                    await super().parse(cast(bytes, view[at : end + 2]))  # nats-py reads it
                    at = end + 2
                    if self._start_gathering():
                        continue
            await super().parse(cast(bytes, view[at:]))
            self._start_gathering()
            return

    def _start_gathering(self) -> bool:
        """After nats-py read a large message's control line, take its payload over."""
        if self.state != _parser.AWAITING_MSG_PAYLOAD or self.header_needed or self.needed < LARGE:
            return False
        self._payload = bytearray(self.needed + _CRLF)
        self._payload[: len(self.buf)] = self.buf  # nats-py stops short of a whole one
        self._filled = len(self.buf)
        self.buf.clear()
        return True

    async def _deliver(self) -> None:
        payload, self._payload = self._payload, None
        if payload is None:
            return
        del payload[self.needed :]  # the CRLF after it
        self.state = _parser.AWAITING_CONTROL_LINE
        arg = self.msg_arg
        await self.nc._process_msg(arg["sid"], arg["subject"], arg["reply"], payload, None)


class BlockReader(asyncio.StreamReader):
    """An asyncio stream reader that, after the handshake, queues reads without copying.

    ``read(n)`` then returns the next block the socket (or TLS) gave, whatever ``n``
    (nats-py's read loop is its only caller, and parses whatever it gets, ``bytes`` or
    ``bytearray``).
    """

    def __init__(self, limit: int) -> None:
        super().__init__(limit=limit)
        self._blocks: deque[bytes | bytearray] = deque()
        self._queued = 0
        self._by_block = False  # the handshake reads lines from the stock buffer

    def feed_data(self, data: Iterable[SupportsIndex]) -> None:
        if not self._by_block:
            super().feed_data(data)
            return
        # a socket's read (bytes), or a block TLS decrypted into (bytearray): as it is
        block = data if isinstance(data, bytes | bytearray) else bytes(data)
        if not block:
            return
        self._blocks.append(block)
        self._queued += len(block)
        self._wakeup_waiter()
        transport: Any = self._transport
        if transport is not None and not self._paused and self._queued > 2 * self._limit:
            transport.pause_reading()
            self._paused = True

    async def read(self, n: int = -1) -> bytes:
        self._by_block = True
        if self._buffer:  # what came with the handshake
            return await super().read(n)
        if self._exception is not None:
            raise self._exception
        if not self._blocks and not self._eof:
            await self._wait_for_data("read")
        if not self._blocks:
            return b""  # end of stream
        block = self._blocks.popleft()
        self._queued -= len(block)
        if self._paused and self._queued <= self._limit:
            self._paused = False
            self._transport.resume_reading()
        return cast(bytes, block)  # or a bytearray: the parser reads either

    def at_eof(self) -> bool:
        return super().at_eof() and not self._blocks


class _TlsStreamProtocol(asyncio.StreamReaderProtocol, asyncio.BufferedProtocol):
    """A stream protocol under TLS that takes what TLS decrypts into buffers of its own.

    As a buffered protocol, asyncio's TLS layer decrypts straight into the buffer this
    hands out (one block for the :class:`BlockReader`), instead of into a new ``bytes``
    per TLS record that are then joined (copied) into one. The end of the stream closes
    the connection (asyncio warns on every hub restart that it would have kept it half
    open otherwise).
    """

    def __init__(self, reader: BlockReader) -> None:
        super().__init__(reader)
        self._block_reader = reader
        self._block = bytearray()
        self._view = memoryview(self._block)

    def get_buffer(self, sizehint: int) -> memoryview:
        # sizehint: the encrypted bytes waiting, a little more than they decrypt to
        self._block = bytearray(min(max(sizehint, TLS_BLOCK), READ_LIMIT))
        self._view = memoryview(self._block)
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        block = self._block
        try:
            self._view.release()  # asyncio is done writing into it: it may shrink
            del block[nbytes:]
        except BufferError:  # still looked at: hand over a copy instead
            block = bytearray(self._view[:nbytes])
        self._block_reader.feed_data(block)

    def eof_received(self) -> bool:
        super().eof_received()
        return False


class BulkTransport(TcpTransport):
    """nats-py's TCP transport reading through a :class:`BlockReader`.

    nats-py makes its own transport only when the client has none that is true, so this
    one is true from the start (writes before a connection have nothing to go to).
    """

    async def connect(self, uri: Any, buffer_size: int, connect_timeout: int) -> None:
        loop = asyncio.get_running_loop()
        reader = BlockReader(max(buffer_size, READ_LIMIT))
        protocol = asyncio.StreamReaderProtocol(reader)
        transport, _ = await asyncio.wait_for(
            loop.create_connection(lambda: protocol, uri.hostname, uri.port), connect_timeout
        )
        if hasattr(transport, "max_size"):  # asyncio reads 256 KiB at most by default
            transport.max_size = READ_LIMIT
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        self._bare_io_reader = self._io_reader = reader
        self._bare_io_writer = self._io_writer = writer

    async def connect_tls(
        self, uri: Any, ssl_context: Any, buffer_size: int, connect_timeout: int
    ) -> None:
        """nats-py's upgrade to TLS, reading through a :class:`BlockReader` as well."""
        loop = asyncio.get_running_loop()
        reader = BlockReader(max(buffer_size, READ_LIMIT))
        protocol = _TlsStreamProtocol(reader)
        if self._io_writer is None:
            raise ConnectionError("no connection to upgrade to TLS")
        transport = await asyncio.wait_for(
            loop.start_tls(
                self._io_writer.transport,
                protocol,
                ssl_context,
                server_hostname=uri if isinstance(uri, str) else uri.hostname,
            ),
            connect_timeout,
        )
        if transport is None:
            raise ConnectionError("the connection closed during the TLS handshake")
        self._io_reader = reader
        self._io_writer = asyncio.StreamWriter(transport, protocol, reader, loop)

    def _gone(self) -> bool:
        """Nothing can be written: never connected, or the connection is closing (nats-py
        flushes its pending commands into a dropped connection when closed while it
        reconnects: under TLS that raised AttributeError from asyncio's sslproto)."""
        return self._io_writer is None or self._io_writer.transport.is_closing()

    def writelines(self, payload: Any) -> Any:
        """Write nats-py's pending commands; large ones as they are, not joined (copied)."""
        if self._io_writer is None or self._gone():
            return None
        small: list[bytes] = []
        for item in payload:
            if len(item) < LARGE:
                small.append(item)
                continue
            if small:
                self._io_writer.write(b"".join(small))
                small = []
            self._io_writer.write(item)
        if small:
            self._io_writer.write(b"".join(small))
        return None

    def write(self, payload: Any) -> Any:
        return None if self._gone() else super().write(payload)

    async def wait_closed(self) -> None:
        """Closed. Under TLS, our close_notify is sent but the hub's is not waited for
        past ``CLOSE_NOTIFY_WAIT_S`` (a round trip at the end of every command): what we
        wrote is with the kernel by then, which sends it on after the socket is closed."""
        writer = self._io_writer
        if writer is None:
            return None
        if writer.transport.get_extra_info("ssl_object") is None:
            return await super().wait_closed()  # type: ignore[no-any-return]
        try:
            await asyncio.wait_for(asyncio.shield(writer.wait_closed()), CLOSE_NOTIFY_WAIT_S)
        except TimeoutError:
            writer.transport.abort()
        return None

    async def drain(self) -> Any:
        return None if self._gone() else await super().drain()

    def __bool__(self) -> bool:
        return True


async def publish(client: Client, subject: str, payload: bytes | bytearray) -> None:
    """``client.publish(subject, payload)``, without nats-py's two copies of a large one.

    nats-py builds ``PUB`` line + payload + CRLF into one new ``bytes`` (two copies);
    here the three go to the pending commands side by side (nothing can come between:
    there is no await in between) and :class:`BulkTransport` writes the payload as it
    is. ``payload`` must not change until it is sent. Anything unusual (a small
    payload, a closed, draining or reconnecting client, a payload over the server's
    limit, an odd subject) goes through ``client.publish`` and its checks and errors.
    """
    if (
        len(payload) < LARGE
        or not isinstance(client._transport, BulkTransport)
        or not client.is_connected
        or client.is_draining_pubs
        or len(payload) > client._max_payload
        or not subject
        or any(c in subject for c in " \t\r\n")
    ):
        await client.publish(subject, cast(bytes, payload))  # any bytes-like goes
        return
    line = f"PUB {subject} {len(payload)}\r\n".encode()
    client.stats["out_msgs"] += 1
    client.stats["out_bytes"] += len(payload)
    client._pending.extend((line, cast(bytes, payload), b"\r\n"))
    client._pending_data_size += len(line) + len(payload) + _CRLF
    if 0 < client._max_pending_size < client._pending_data_size:
        await client._flush_pending(force_flush=True)
    elif client._flush_queue is not None and client._flush_queue.empty():
        await client._flush_pending()


def tune(client: Client) -> Client:
    """Give a client that has not connected yet the bulk parser and transport.

    Only on the nats-py versions these were checked against: on any other, the client
    stays as nats-py made it (slower, never broken), and a test says so.
    """
    if not nats_client_version.startswith(CHECKED_NATS_PY):
        return client
    client._ps = BulkParser(client)
    client._transport = BulkTransport()
    return client
