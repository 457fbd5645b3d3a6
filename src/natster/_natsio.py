"""nats-py's receive path, tuned for natster's large messages (1 MiB transfer chunks).

Stock nats-py copies each received byte about six times on its way to a message: the
stream reader appends every socket read to one buffer and copies it out again, the
parser appends that to its own buffer, then slices the payload out and copies the slice
to ``bytes``. For a download that was about a third of the downloader's CPU. Here:

- :class:`BlockReader` hands each socket read over as it came (the ``bytes`` the socket
  returned, no copy), once nats-py's handshake (which reads lines) is done;
- :class:`BulkParser` gathers a large payload straight into a buffer of its final size
  (one copy) and hands the message over with that ``bytearray`` as its data.

Everything else (control lines, small messages, messages with headers) goes through
nats-py's own code. Both classes lean on nats-py's and asyncio's internals; the tests
check that they are in place on every natster connection and that the parser reads any
split of a stream exactly as nats-py's does, so an upgrade that breaks them fails there.
"""

# mypy: disable-error-code="attr-defined, has-type, no-untyped-call"
# (asyncio.StreamReader's private state, which typeshed does not describe; nats-py's
# transport, which has no annotations)
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import Any, SupportsIndex

from nats.aio.client import Client
from nats.aio.transport import TcpTransport
from nats.protocol import parser as _parser

LARGE = 64 * 1024  # payloads from this size on are gathered into their own buffer
READ_LIMIT = 1024 * 1024  # bytes a connection buffers before it stops reading the socket
_CRLF = 2


class BulkParser(_parser.Parser):
    """nats-py's protocol parser; large payloads skip its shared buffer."""

    def reset(self) -> None:
        super().reset()
        self._payload: bytearray | None = None
        self._filled = 0

    async def parse(self, data: bytes = b"") -> None:
        while True:
            if self._payload is None:
                await super().parse(data)
                self._start_gathering()
                return
            view = memoryview(data)
            take = min(len(view), len(self._payload) - self._filled)
            self._payload[self._filled : self._filled + take] = view[:take]
            self._filled += take
            if self._filled < len(self._payload):
                return  # more of this payload to come
            await self._deliver()
            if take == len(view):
                return
            data = bytes(view[take:])  # rare: the rest of a read that ended a payload

    def _start_gathering(self) -> None:
        """After nats-py read a large message's control line, take its payload over."""
        if (
            self.state == _parser.AWAITING_MSG_PAYLOAD
            and not self.header_needed
            and self.needed >= LARGE
        ):
            self._payload = bytearray(self.needed + _CRLF)
            self._payload[: len(self.buf)] = self.buf  # nats-py stops short of a whole one
            self._filled = len(self.buf)
            self.buf.clear()

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

    ``read(n)`` then returns the next block the socket gave, whatever ``n`` (nats-py's
    read loop is its only caller, and parses whatever it gets).
    """

    def __init__(self, limit: int) -> None:
        super().__init__(limit=limit)
        self._blocks: deque[bytes] = deque()
        self._queued = 0
        self._by_block = False  # the handshake reads lines from the stock buffer

    def feed_data(self, data: Iterable[SupportsIndex]) -> None:
        if not self._by_block:
            super().feed_data(data)
            return
        block = data if type(data) is bytes else bytes(data)  # a socket's read: bytes
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
        return block

    def at_eof(self) -> bool:
        return super().at_eof() and not self._blocks


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
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        self._bare_io_reader = self._io_reader = reader
        self._bare_io_writer = self._io_writer = writer

    def writelines(self, payload: Any) -> Any:
        return None if self._io_writer is None else super().writelines(payload)

    def write(self, payload: Any) -> Any:
        return None if self._io_writer is None else super().write(payload)

    async def drain(self) -> Any:
        return None if self._io_writer is None else await super().drain()

    def __bool__(self) -> bool:
        return True


def tune(client: Client) -> Client:
    """Give a client that has not connected yet the bulk parser and transport."""
    client._ps = BulkParser(client)
    client._transport = BulkTransport()
    return client
