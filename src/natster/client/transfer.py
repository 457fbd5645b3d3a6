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

Bytes take the shortest path: once open (through the hub), a transfer asks the owner's
server, in the background, for its direct endpoint (``transfer-direct``) and tries its
addresses at once for ``limits.DIRECT_CONNECT_S``; the first to let it in carries the
chunks asked from then on (``route`` "direct"), sealed exactly as through the hub. Until
then, without one, or once it goes away, the hub carries them ("via hub"): nothing waits
for the direct path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from urllib.parse import urlsplit

from natster import _nats, endpoints, limits, subjects, wire
from natster._nats import Client, Trust, stop_if_cancelled
from natster._quiet import quietly
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
from natster.services.direct import ticket_login

from ._client import NatsterClient
from ._flow import Asked, Flow
from .remote import CatalogRef, ask

__all__ = ["Transfer"]

log = logging.getLogger(__name__)

Buffers = list[xkeys.Writable]
LATE_CHECK_S = 0.25  # how often a request in flight checks whether it is late
TAPER = 2  # a request asks for at most half of the chunks still to ask for
LONGEST_WAIT_S = 3600.0  # nats-py's own timeout on a chunk request: lateness decides first


class _Dropped(Exception):
    """The connection dropped while a request was out: its reply will never come."""


class _DirectLost(Exception):
    """The direct connection to the owner's machine went away: the hub carries on."""


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
    direct_bytes: int = 0  # chunks' bytes that came straight from the owner's machine
    hub_bytes: int = 0  # ...and through the hub

    def __init__(
        self,
        client: NatsterClient,
        ref: CatalogRef,
        file_hash: str | None = None,
        *,
        path: str | None = None,
        size: int | None = None,
        chunk_size: int = limits.CHUNK_SIZE,
        direct: bool = True,
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
        self._may_go_direct = direct
        self._direct: Client | None = None
        self._going_direct: asyncio.Task[None] | None = None

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
                except _DirectLost:  # the hub carries on, at once, at no cost of a try
                    await self._drop_direct()
                    asked = self._again(flow, asked, size)
                    continue
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
        await self._drop_direct()
        if opened is not None:
            body = wire.TransferCloseRequest(transfer=opened.transfer)
            subject = self._ref.subject(self._client.account, endpoints.TRANSFER_CLOSE)
            with contextlib.suppress(NatsterError):
                await self._client.tell(subject, body.encode())

    # --- the protocol ------------------------------------------------------------------------
    async def _open(self) -> None:
        await self._drop_direct()  # admitted for the transfer it was opened for alone
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
        if self._may_go_direct:
            self._going_direct = asyncio.create_task(self._go_direct(opened.transfer))

    @property
    def route(self) -> str:
        """How this transfer's bytes came: "direct", "via hub", or "direct (N% via hub)";
        before any, how the next will."""
        total = self.direct_bytes + self.hub_bytes
        if not total:
            return "direct" if self._direct is not None else "via hub"
        if not self.hub_bytes or not self.direct_bytes:
            return "direct" if self.direct_bytes else "via hub"
        return f"direct ({round(100 * self.hub_bytes / total)}% via hub)"

    @property
    def direct_now(self) -> bool:
        """Its chunks come straight from the owner's machine now (the hub away or not)."""
        return self._direct is not None

    async def settled(self) -> str:
        """The route once the direct path is found or given up on: "direct" or "via hub"."""
        if self._going_direct is not None:
            await asyncio.gather(self._going_direct, return_exceptions=True)
        return self.route

    async def _go_direct(self, transfer: str) -> None:
        """Ask for the owner's direct endpoint; connect to the first of its addresses that
        lets this transfer in within ``limits.DIRECT_CONNECT_S``, else stay on the hub."""
        try:
            offer = await ask(
                self._client,
                self._ref,
                endpoints.TRANSFER_DIRECT,
                wire.TransferDirectRequest(transfer=transfer),
                timeout=limits.DIRECT_ASK_S,
            )
        except NatsterError as exc:  # none offered (or a server from before): the hub
            log.debug("no direct path for transfer %s: %s", transfer[:8], exc)
            return
        login = ticket_login(offer.ticket, self._client.home.creds())

        async def reach(url: str) -> Client:
            return await _nats.connect(
                url,
                login,
                name=f"natster-{self._client.context.name}-direct",
                trust=Trust(offer.cert.encode("ascii"), hostname=urlsplit(url).hostname),
                inbox_prefix=subjects.direct_inbox(transfer),
            )

        trying = [asyncio.create_task(reach(url)) for url in offer.urls]
        done, _ = await asyncio.wait(trying, timeout=limits.DIRECT_CONNECT_S)
        winner = next((t.result() for t in trying if t in done and not t.exception()), None)
        for task in trying:
            task.cancel()
        for result in await asyncio.gather(*trying, return_exceptions=True):
            if isinstance(result, Client) and result is not winner:
                with quietly(log, "closing a direct connection not taken"):
                    await result.close()
        if winner is None:
            return
        if self._opened is None or self._opened.transfer != transfer:  # closed meanwhile
            with quietly(log, "closing a direct connection no longer wanted"):
                await winner.close()
            return
        self._direct = winner
        log.info("transfer %s goes direct", transfer[:8])

    async def _drop_direct(self) -> None:
        going, self._going_direct = self._going_direct, None
        if going is not None and not going.done():
            going.cancel()
            await asyncio.gather(going, return_exceptions=True)
        direct, self._direct = self._direct, None
        if direct is not None:
            with quietly(log, "closing the direct connection"):
                await direct.close()

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
        direct = self._direct
        if direct is not None and not direct.is_connected:
            raise _DirectLost
        async with self._client.receive_budget.hold(asked.size + xkeys.OVERHEAD):
            asked.sent_at = time.monotonic()
            reconnects = self._client.reconnects

            def late() -> bool:
                if direct is not None and not direct.is_connected:
                    raise _DirectLost
                if direct is None and (
                    self._client.reconnects != reconnects or not self._client.connected
                ):
                    raise _Dropped  # a reply to a connection that dropped never comes
                why = flow.quiet(asked) if early else None
                if why is not None:
                    raise _Quiet(probe=why == "probe")
                return flow.late(asked)

            if direct is not None:
                asking = _nats.request_raw(
                    direct,
                    subjects.direct_chunk(opened.transfer),
                    body.encode(),
                    timeout=LONGEST_WAIT_S,
                    what="the owner's machine",
                )
            else:
                asking = self._client.request_raw(
                    self._ref.subject(self._client.account, endpoints.TRANSFER_CHUNK),
                    body.encode(),
                    timeout=LONGEST_WAIT_S,
                    what="the catalog server",
                    lost="the connection to the hub was lost: run the download again to resume",
                )
            try:
                data = await self._late_or(late, asking)
            except ConnectionFailed as exc:
                if direct is not None:
                    raise _DirectLost from exc
                raise
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
        if direct is not None:
            self.direct_bytes += length
        else:
            self.hub_bytes += length
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
