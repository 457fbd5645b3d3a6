"""One open transfer of a shared file: the public API for every way of receiving bytes.

A :class:`Transfer` is opened with a fresh xkey (never reused), fetches chunks by index,
a window of them in flight at a time, and is closed when done (``async with`` does it).
A whole download (:mod:`.download`) writes the chunks to disk and checks the file's
sha256; the web UI's range reader (:meth:`Transfer.read`) hands any byte range to the
browser. Every chunk is authenticated (sealed for this transfer and this position), so
each byte comes from the owner's server unaltered; only a whole download can also be
checked against the catalog's sha256.

Faults are ridden out here: timeouts are asked again, a hub that is reconnecting is
waited for, and a transfer the server forgot (it restarted) is opened again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable

from natster import endpoints, limits, wire
from natster._nats import stop_if_cancelled
from natster.errors import (
    ConnectionFailed,
    CryptoError,
    IntegrityError,
    NatsterError,
    NotShared,
    ProtocolError,
    RemoteError,
    RequestTimeout,
    ServiceUnavailable,
    TransferError,
    TransferStalled,
)
from natster.security import Channel, XKey, xkeys

from ._client import NatsterClient
from ._flow import Asked, Flow
from .remote import CatalogRef, ask

__all__ = ["Transfer"]

Buffers = list[xkeys.Writable]
LATE_CHECK_S = 0.25  # how often a request in flight checks whether it is late
TAPER = 2  # a request asks for at most half of the chunks still to ask for
LONGEST_WAIT_S = 3600.0  # nats-py's own timeout on a chunk request: lateness decides first


class _Dropped(Exception):
    """The connection dropped while a request was out: its reply will never come."""


class _Quiet(Exception):
    """Nothing came for far longer than it should, or a later request was answered
    first: the owner's connection may have dropped with this one (``Flow.quiet``)."""

    def __init__(self, probe: bool) -> None:
        super().__init__()
        self.probe = probe


class Transfer:
    """A transfer of the file with ``file_hash`` in ``ref`` (or, with ``path``, of the file
    at that path: one request instead of a lookup and an open): ``await
    Transfer(...).open()``.

    ``size``, if known from the catalog, must be the server's (a rescan changes it);
    ``chunk_size`` is the unit chunks are counted in, capped at what the hub carries; the
    server may shrink it, never grow it. Once open, ``path`` (as the server names it:
    untrusted, see ``_target``), ``size``, ``chunk_size`` and ``chunks`` say what the
    server is sending (a reopen must agree with them), and ``span`` how many chunks one
    request may ask for.
    """

    path: str = ""
    hash: str = ""  # the file's sha256: as asked, or as the server said for a path
    size: int = 0
    chunk_size: int = 0
    chunks: int = 0
    span: int = 1  # chunks one request may ask for
    round_trip: float | None = None  # the least time transfer-open took

    def __init__(
        self,
        client: NatsterClient,
        ref: CatalogRef,
        file_hash: str | None = None,
        *,
        path: str | None = None,
        size: int | None = None,
        chunk_size: int = limits.CHUNK_SIZE,
    ) -> None:
        if (file_hash is None) == (path is None):
            raise ValueError("a transfer is of a file's hash or of its path")
        self._client, self._ref, self._size = client, ref, size
        self.hash, self._path = file_hash or "", path
        # the server shrinks it to what its serving connection carries
        self._wanted = wire.chunk_size_within(chunk_size, limits.HUB_MAX_PAYLOAD)
        self._opened: wire.TransferOpened | None = None
        self._channel: Channel | None = None
        self._reopening = asyncio.Lock()

    async def open(self) -> Transfer:
        """Open the transfer (NotShared, CatalogOffline, ... if the server will not)."""
        await self._open()
        return self

    async def __aenter__(self) -> Transfer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- fetching ------------------------------------------------------------------------
    def flow(self, *, stream: bool = False) -> Flow:
        """Flow control for one use of this transfer: a download's, or a player's range's
        (smaller first, less in flight: a seek waits behind less). See :mod:`._flow`."""
        if stream:
            flow = Flow(
                self.chunk_size,
                first_span=limits.STREAM_FIRST_SPAN,
                first_spans=2,
                max_span=self.span,
                max_in_flight=limits.STREAM_IN_FLIGHT,
                slack=limits.STREAM_SLACK_S,
                slack_spans=limits.STREAM_SLACK_SPANS,
            )
        else:
            flow = Flow(
                self.chunk_size,
                first_span=limits.DOWNLOAD_FIRST_SPAN,
                first_spans=limits.DOWNLOAD_FIRST_SPANS,
                max_span=self.span,
                max_in_flight=limits.DOWNLOAD_IN_FLIGHT,
            )
        if self.round_trip is not None:
            flow.round_trip(self.round_trip)
        return flow

    async def fetch(
        self, first: int, stop: int, *, flow: Flow, buffers: Buffers | None = None
    ) -> AsyncGenerator[tuple[int, memoryview], None]:
        """Chunks ``first`` to ``stop`` (exclusive) in order, as many asked at a time as
        ``flow`` allows: each yield is one reply, chunks ``index`` onwards (a span).

        With ``buffers`` (each ``span`` chunks large), each reply is decrypted into one
        taken from that list, and only while one is free is another asked for: the caller
        puts it back when done with it. Without, each reply gets a new one.
        """
        stop = min(stop, self.chunks)
        pending: deque[tuple[int, asyncio.Task[memoryview]]] = deque()
        next_index = first
        try:
            while pending or next_index < stop:
                while next_index < stop and (buffers is None or buffers):
                    # smaller spans towards the end: the hub forwards a message only once
                    # it has all of it, so the last one's crossing of the receiver's line
                    # is what the download waits for after the owner sent its last byte
                    count = min(flow.span(), self.span, max(1, (stop - next_index) // TAPER))
                    size = self._span_bytes(next_index, count)
                    if not flow.may_ask(size):
                        break
                    out = buffers.pop() if buffers is not None else bytearray(size)
                    asked = flow.asking(size)
                    task = asyncio.create_task(self.chunk(next_index, out, count, flow, asked))
                    pending.append((next_index, task))
                    next_index += count
                if not pending:
                    raise RuntimeError("no buffer free: put the chunks' buffers back")
                index, task = pending.popleft()
                data = await task
                stop_if_cancelled()
                yield index, data
        finally:
            for _, task in pending:
                task.cancel()
            await asyncio.gather(*(task for _, task in pending), return_exceptions=True)

    async def read(self, start: int, end: int) -> AsyncGenerator[bytes, None]:
        """The bytes ``start`` to ``end`` (exclusive), a reply's worth at a time: a player's
        range, which starts with one chunk and asks for more only as it is read."""
        end = min(end, self.size)
        if start >= end:
            return
        size = self.chunk_size
        flow = self.flow(stream=True)
        fetched = self.fetch(start // size, (end - 1) // size + 1, flow=flow)
        async with contextlib.aclosing(fetched):
            async for index, data in fetched:
                base = index * size
                yield bytes(data[max(start, base) - base : min(end, base + len(data)) - base])

    async def chunk(
        self,
        index: int,
        out: xkeys.Writable,
        count: int = 1,
        flow: Flow | None = None,
        asked: Asked | None = None,
    ) -> memoryview:
        """Chunks ``index`` to ``index + count``, decrypted into ``out``: asked again when
        late (see :mod:`._flow`), the transfer reopened if the server restarted. Waiting out
        a hub that is reconnecting, or a server re-reading its shares (503), costs no try:
        those end on their own (or the connection closes, and that is final)."""
        flow = flow or self.flow()
        size = asked.size if asked else self._span_bytes(index, count)
        asked = asked or flow.asking(size)
        attempt, waits, settled, early = 0, 0, False, True
        try:
            while attempt <= limits.CHUNK_RETRIES:
                stale = self._opened.transfer if self._opened else None
                try:
                    data = await self._chunk_once(index, out, count, flow, asked, early)
                except _Quiet as quiet:  # asked again at once, once, at no cost of a try
                    early = False
                    asked = self._again(flow, asked, size)
                    asked.probe = quiet.probe
                    continue
                except (RequestTimeout, ServiceUnavailable):
                    await asyncio.sleep(min(2.0, 0.2 * (attempt + 1)))
                except (ConnectionFailed, _Dropped) as exc:  # the hub went away: wait for it
                    waits += 1
                    if waits > limits.ACCESS_CHECK_WAITS and isinstance(exc, ConnectionFailed):
                        raise
                    await self._hub_back(exc)
                    asked = self._again(flow, asked, size)  # at once: its reply is lost
                    continue
                except RemoteError as exc:
                    if exc.status == 503 and waits < limits.ACCESS_CHECK_WAITS:
                        waits += 1  # the server is re-reading its shares (after a hub restart)
                        await asyncio.sleep(1.0)
                        asked = self._again(flow, asked, size)
                        continue
                    if exc.status != 404:  # 404: the server forgot the transfer (restarted)
                        raise
                else:
                    flow.delivered(asked, len(data))
                    settled = True
                    return data
                attempt += 1
                asked = self._again(flow, asked, size)
                try:
                    await self._reopen(stale)
                except NotShared:
                    raise  # the share ended: say so, not that the transfer stalled
                except NatsterError:
                    pass
        finally:
            if not settled:
                flow.given_up(asked)
        raise TransferStalled(
            f"the transfer stalled: no answer for chunk {index} after "
            f"{limits.CHUNK_RETRIES + 1} tries"
        )

    async def _hub_back(self, exc: Exception) -> None:
        """Wait for the hub while the connection reconnects, as long as the client's
        patience; a connection that closed, or stayed away longer, ends the transfer."""
        if not await self._client.reconnected():
            raise ConnectionFailed(
                f"the hub stayed unreachable for {self._client.patience:.0f} s: "
                "run it again to resume"
            ) from exc

    @staticmethod
    def _again(flow: Flow, asked: Asked, size: int) -> Asked:
        flow.given_up(asked)
        return flow.asking(size)

    def _span_bytes(self, index: int, count: int) -> int:
        return max(0, min(count * self.chunk_size, self.size - index * self.chunk_size))

    async def close(self) -> None:
        """Tell the server this transfer is done (once; later calls do nothing). Nothing
        waits for its answer (a round trip at the end of every download): a close that is
        lost is as an abandoned transfer, freed by the server after TRANSFER_IDLE_S."""
        opened, self._opened = self._opened, None
        if opened is not None:
            body = wire.TransferCloseRequest(transfer=opened.transfer)
            subject = self._ref.subject(self._client.account, endpoints.TRANSFER_CLOSE)
            with contextlib.suppress(NatsterError):
                await self._client.tell(subject, body.encode())

    # --- the protocol ------------------------------------------------------------------------
    async def _open(self) -> None:
        key = XKey.create()  # fresh for every transfer: never reused
        # by path only the first time: a reopen asks for the same content, by its hash
        which = {"hash": self.hash} if self.hash else {"path": self._path}
        body = wire.TransferOpenRequest(xkey=key.public_key, chunk_size=self._wanted, **which)
        began = time.monotonic()
        opened = await ask(self._client, self._ref, endpoints.TRANSFER_OPEN, body)
        took = time.monotonic() - began
        self.round_trip = took if self.round_trip is None else min(self.round_trip, took)
        who = f"catalog {self._ref.display(self._client.account)}"
        if opened.chunk_size > self._wanted:
            raise ProtocolError(f"{who} sent chunks larger than asked for")
        if not self.hash and (opened.hash is None or opened.path != self._path):
            raise ProtocolError(f"{who} opened another file than the one asked for")
        if self.hash and opened.hash not in (None, self.hash):
            raise ProtocolError(f"{who} opened another file than the one asked for")
        expected = self.size if self.chunk_size else self._size  # a reopen: the first's
        if expected is not None and opened.size != expected:
            raise TransferError("the server's file is not the catalog's: ask for a rescan")
        if not self.chunk_size:  # the first open fixes what a reopen must agree with
            self.path, self.size, self.hash = opened.path, opened.size, opened.hash or self.hash
            self.chunk_size, self.chunks = opened.chunk_size, opened.chunks
            self.span = min(opened.span, limits.MAX_SPAN)
        elif opened.chunk_size != self.chunk_size:
            raise TransferError("the server changed its chunk size: run it again")
        else:
            self.span = min(self.span, opened.span)  # buffers fit the first's: never more
        self._opened, self._channel = opened, key.channel(opened.xkey)

    async def _reopen(self, stale: str | None) -> None:
        """Open a new transfer, once, however many chunk tasks found the old one gone."""
        async with self._reopening:
            if self._opened is None or self._opened.transfer == stale:
                await self._open()

    async def _chunk_once(
        self,
        index: int,
        out: xkeys.Writable,
        count: int,
        flow: Flow,
        asked: Asked,
        early: bool = False,
    ) -> memoryview:
        opened, channel = self._opened, self._channel
        if opened is None or channel is None:
            raise TransferError("this transfer is closed")
        spanning = {"count": count} if count > 1 else {}  # a server before spans knows none
        body = wire.TransferChunkRequest(transfer=opened.transfer, index=index, **spanning)
        async with self._client.receive_budget.hold(asked.size + xkeys.OVERHEAD):
            asked.sent_at = time.monotonic()
            reconnects = self._client.reconnects

            def late() -> bool:
                if self._client.reconnects != reconnects or not self._client.connected:
                    raise _Dropped  # a reply to a connection that dropped never comes
                why = flow.quiet(asked) if early else None
                if why is not None:
                    raise _Quiet(probe=why == "probe")
                return flow.late(asked)

            data = await self._late_or(
                late,
                self._client.request_raw(
                    self._ref.subject(self._client.account, endpoints.TRANSFER_CHUNK),
                    body.encode(),
                    timeout=LONGEST_WAIT_S,
                    what="the catalog server",
                    lost="the connection to the hub was lost: run the download again to resume",
                ),
            )
        if not data.startswith(b"xkv1"):
            wire.unwrap(data)  # raises the server's error
            raise TransferError("the server sent a chunk natster cannot read")
        aad = wire.chunk_aad(opened.transfer, index, count)
        try:
            length = channel.open_into(data, out, aad=aad)
        except CryptoError as exc:
            raise IntegrityError(
                f"chunk {index} failed its check (tampered with, replayed or misplaced): "
                "nothing was kept"
            ) from exc
        expected = min(count * opened.chunk_size, opened.size - index * opened.chunk_size)
        if length != expected:
            raise IntegrityError(f"chunk {index} has the wrong length: nothing was kept")
        return memoryview(out)[:length]

    @staticmethod
    async def _late_or(late: Callable[[], bool], reply: Awaitable[bytes]) -> bytes:
        """The reply, or RequestTimeout once it is ``late`` (not merely queued)."""
        task = asyncio.ensure_future(reply)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=LATE_CHECK_S)
                if done:
                    return task.result()
                if late():
                    raise RequestTimeout("the catalog server's answer is late")
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, NatsterError):
                    await task
