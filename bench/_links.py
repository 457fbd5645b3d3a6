"""Emulated internet links: a user's connections to the hub through a delay and a rate.

A :class:`Link` is one person's line to the internet: a TCP proxy on loopback in front of
the hub. Every connection made through it shares its rates (``up``: from the person to
the hub, ``down``: back), as the connections of one home share its line, and every byte
arrives ``delay`` seconds after it was sent (one way). Bytes are taken from a sender only
as the rate lets them leave (a token bucket with no burst beyond one quantum), so the
queue stays in the sender's own socket, as on a real line; connections that all have
bytes to send take turns, a quantum each (the fair queueing of a modern router). A new
connection carries nothing for one round trip (TCP's handshake).

Used by the tests (tests/test_wan.py) and by bench/wan.py; :func:`measure` checks a link
against its settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

QUANTUM = 16 * 1024  # bytes taken from a sender at once
MBIT = 1_000_000 / 8  # bytes per second of one Mbit/s


@dataclass
class Pipe:
    """One direction of a link: its rate, shared by every connection, and its counters."""

    rate: float  # bytes per second
    delay: float  # seconds, one way
    bytes: int = 0
    trace: list[tuple[float, int]] | None = None  # (when it left, bytes), while a list
    _next_free: float = 0.0
    _turns: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def slot(self, size: int) -> float:
        """Wait for ``size`` bytes' turn on the line; when they will have arrived."""
        async with self._turns:  # FIFO: connections with bytes waiting take turns
            now = time.monotonic()
            start = max(now, self._next_free)
            self._next_free = start + size / self.rate
            self.bytes += size
            if self.trace is not None:
                self.trace.append((self._next_free, size))
            if start > now:
                await asyncio.sleep(start - now)
        return self._next_free + self.delay


class Link:
    """A proxy on ``127.0.0.1:port`` to ``target``, through ``up``/``down`` Mbit/s lines
    with ``delay`` seconds one way (``await Link(...).start()``, ``await link.close()``)."""

    def __init__(
        self, target: tuple[str, int], *, up_mbit: float, down_mbit: float, delay: float
    ) -> None:
        self.target = target
        self.up = Pipe(up_mbit * MBIT, delay)
        self.down = Pipe(down_mbit * MBIT, delay)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the link is not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"tls://127.0.0.1:{self.port}"

    async def start(self) -> Link:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> Link:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            far_reader, far_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, far_writer))
        await asyncio.sleep(self.up.delay + self.down.delay)  # SYN, SYN-ACK: then bytes
        for pipe, source, sink in ((self.up, reader, far_writer), (self.down, far_reader, writer)):
            task = asyncio.create_task(_carry(pipe, source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


async def _carry(pipe: Pipe, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Move bytes from ``source`` to ``sink`` at the pipe's rate, each after its delay."""
    arriving: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
    deliver = asyncio.create_task(_deliver(arriving, sink))
    try:
        while block := await source.read(QUANTUM):
            arriving.put_nowait((await pipe.slot(len(block)), block))
            while arriving.qsize() > 4 * max(1, int(pipe.rate * pipe.delay / QUANTUM)):
                await asyncio.sleep(pipe.delay / 4 or 0.001)  # the far end reads no more
    except (ConnectionError, OSError):
        pass
    finally:
        arriving.put_nowait((0.0, b""))
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
            await deliver


async def _deliver(
    arriving: asyncio.Queue[tuple[float, bytes]], sink: asyncio.StreamWriter
) -> None:
    try:
        while True:
            at, block = await arriving.get()
            if not block:
                break
            wait = at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            sink.write(block)
            await sink.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        sink.close()


async def measure(link: Link, payload: int) -> dict[str, float]:
    """Through ``link`` (pointed at a small server of its own): the time of a small round
    trip, and the rates of ``payload`` bytes sent up, then down."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            line = await reader.readline()
            if not line:
                break
            command, size = line.split()
            if command == b"ping":
                writer.write(b"pong\n")
            elif command == b"take":
                await reader.readexactly(int(size))
                writer.write(b"took\n")
            elif command == b"give":
                writer.write(b"x" * int(size))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    link.target = ("127.0.0.1", server.sockets[0].getsockname()[1])
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", link.port)
        writer.write(b"ping 0\n")  # once the connection is made (a round trip), then:
        await writer.drain()
        await reader.readline()
        began = time.monotonic()
        writer.write(b"ping 0\n")
        await writer.drain()
        await reader.readline()
        rtt = time.monotonic() - began
        began = time.monotonic()
        writer.write(b"take %d\n" % payload + b"y" * payload)
        await writer.drain()
        await reader.readline()
        up = payload / (time.monotonic() - began - rtt)
        began = time.monotonic()
        writer.write(b"give %d\n" % payload)
        await writer.drain()
        await reader.readexactly(payload)
        down = payload / (time.monotonic() - began - rtt)
        writer.close()
    finally:
        server.close()
    return {"rtt_s": rtt, "up_mbit": up / MBIT, "down_mbit": down / MBIT}


def busy_seconds(trace: list[tuple[float, int]], share: float = 0.98) -> float:
    """How long the middle ``share`` of the bytes in ``trace`` took to cross, scaled to
    all of them: the data phase of a transfer, without what came before and after."""
    total = sum(size for _, size in trace)
    edge, done, first, last = total * (1 - share) / 2, 0, 0.0, 0.0
    for when, size in trace:
        done += size
        if not first and done >= edge:
            first = when
        if done >= total - edge:
            last = when
            break
    return (last - first) / share
