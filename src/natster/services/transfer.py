"""Sending files: the server side of natster's encrypted transfer protocol.

A transfer is opened with the receiver's fresh xkey; the server answers with its own
fresh xkey, used for this transfer only, and the two derive one shared key (one key
exchange per transfer). The receiver then asks for chunks by index, any order, a bounded
number at a time: that is both flow control (nothing is pushed) and random access. A
request may ask for a span of consecutive chunks as one message (how large follows the
link: client/_flow.py). Each is sealed in the xkv1 format bound to ``"<transfer>:<index>"``
(``+<count>`` for a span), so it cannot be replayed into another transfer or moved to
another place undetected. A transfer's replies leave in the order they were asked for:
a receiver reading in order never waits on a later one sent first.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from natster import limits, wire
from natster.catalog import Entry, resolve_inside
from natster.errors import NatsterError, Refused, UnsafePath
from natster.security import Channel, XKey, xkeys


@dataclass
class Transfer:
    id: str
    requester: str
    catalog: str
    fd: int
    size: int
    chunk_size: int
    channel: Channel
    span: int = 1
    last_used: float = field(default_factory=time.monotonic)
    # done when the reply to the latest request is sent: each waits for the one before
    # it (two threads read and seal; a later one may finish first)
    last_sent: asyncio.Future[None] | None = None

    @property
    def chunks(self) -> int:
        return max(1, -(-self.size // self.chunk_size)) if self.size else 0


class Transfers:
    """Open transfers of one catalog server."""

    def __init__(self) -> None:
        self._open: dict[str, Transfer] = {}
        self._io = ThreadPoolExecutor(limits.HASH_WORKERS, thread_name_prefix="natster-send")

    def count(self, requester: str) -> int:
        return sum(1 for t in self._open.values() if t.requester == requester)

    def of(self, catalog: str) -> int:
        """How many transfers of ``catalog`` are open."""
        return sum(1 for t in self._open.values() if t.catalog == catalog)

    def open(
        self,
        requester: str,
        catalog: str,
        root: str,
        entry: Entry,
        request: wire.TransferOpenRequest,
        max_payload: int = limits.HUB_MAX_PAYLOAD,
    ) -> wire.TransferOpened:
        """Open a transfer of ``entry``; chunks are the size asked, within ``max_payload``."""
        path, size = entry.path, entry.size
        if self.count(requester) >= limits.MAX_TRANSFERS_PER_ACCOUNT:
            raise Refused(
                f"busy: you already have {limits.MAX_TRANSFERS_PER_ACCOUNT} downloads "
                "running from this server; try again when one ends",
                429,
            )
        try:
            real = resolve_inside(Path(root), path)
            fd = os.open(real, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except (UnsafePath, OSError) as exc:
            raise Refused("that file cannot be read on the server any more", 410) from exc
        if os.fstat(fd).st_size != size:
            os.close(fd)
            raise Refused("that file changed since it was catalogued", 409)
        mine = XKey.create()  # fresh, for this transfer only
        try:
            channel = mine.channel(request.xkey)
        except (NatsterError, ValueError) as exc:  # not a curve key, or not one NaCl takes
            os.close(fd)
            raise Refused("that is not a valid xkey") from exc
        chunk_size = wire.chunk_size_within(request.chunk_size, max_payload)
        transfer_id = secrets.token_hex(16)
        span = max(1, min(limits.MAX_SPAN, (max_payload - limits.CHUNK_HEADROOM) // chunk_size))
        transfer = Transfer(transfer_id, requester, catalog, fd, size, chunk_size, channel, span)
        self._open[transfer.id] = transfer
        return wire.TransferOpened(
            transfer=transfer.id,
            xkey=mine.public_key,
            size=size,
            chunk_size=transfer.chunk_size,
            chunks=transfer.chunks,
            path=path,
            span=span,
            hash=entry.hash,
        )

    def find(self, transfer_id: str) -> Transfer:
        """The open transfer ``transfer_id`` (asked on the direct endpoint, where the
        connection was admitted for that transfer alone)."""
        transfer = self._open.get(transfer_id)
        if transfer is None:
            raise Refused("no such transfer (it ended, or expired)", 404)
        return transfer

    def get(self, requester: str, catalog: str, transfer_id: str) -> Transfer:
        """The transfer, only for the account that opened it and through its own catalog.

        The caller has just checked ``requester``'s access to ``catalog``: binding the
        transfer to it means an unshare stops it, whatever other catalog is still shared.
        """
        transfer = self.find(transfer_id)
        if (transfer.requester, transfer.catalog) != (requester, catalog):
            raise Refused("no such transfer (it ended, or expired)", 404)
        return transfer

    async def chunk(
        self, requester: str, catalog: str, request: wire.TransferChunkRequest
    ) -> bytearray:
        """The chunks asked for, read and sealed; returned (to be sent at once: nothing
        may await between this and the reply's publish) only after the replies to this
        transfer's earlier requests."""
        transfer = self.get(requester, catalog, request.transfer)
        if request.index >= transfer.chunks:
            raise Refused("that chunk is past the end of the file", 416)
        if request.count > transfer.span:
            raise Refused(f"a request may ask for {transfer.span} chunks at most", 400)
        transfer.last_used = time.monotonic()
        offset = request.index * transfer.chunk_size
        aad = wire.chunk_aad(transfer.id, request.index, request.count)

        def read_and_seal() -> bytearray:  # pread and libsodium release the GIL: both cores
            length = min(transfer.chunk_size * request.count, transfer.size - offset)
            buffer = bytearray(xkeys.OVERHEAD + length)  # read and sealed in place
            read = os.preadv(transfer.fd, [memoryview(buffer)[xkeys.OVERHEAD :]], offset)
            del buffer[xkeys.OVERHEAD + read :]  # the file shrank: the receiver will see
            return transfer.channel.seal_in_place(buffer, aad=aad)

        loop = asyncio.get_running_loop()
        before, mine = transfer.last_sent, loop.create_future()
        transfer.last_sent = mine
        try:
            sealed = await loop.run_in_executor(self._io, read_and_seal)
            if before is not None:
                await asyncio.shield(before)
            return sealed  # the caller sends it before the next request's task can run
        finally:
            if not mine.done():
                mine.set_result(None)

    def close(self, requester: str, catalog: str, transfer_id: str) -> None:
        transfer = self.get(requester, catalog, transfer_id)
        self._drop(transfer)

    def end_unless(self, allowed: Callable[[str, str], bool]) -> list[str]:
        """Close every transfer whose (requester, catalog) is no longer ``allowed``."""
        ended = [t for t in self._open.values() if not allowed(t.requester, t.catalog)]
        for transfer in ended:
            self._drop(transfer)
        return [t.id for t in ended]

    @property
    def ids(self) -> set[str]:
        return set(self._open)

    def _drop(self, transfer: Transfer) -> None:
        if self._open.pop(transfer.id, None) is not None:
            with contextlib.suppress(OSError):
                os.close(transfer.fd)

    def reap(self) -> int:
        """Free transfers their receivers abandoned."""
        now = time.monotonic()
        idle = [t for t in self._open.values() if now - t.last_used > limits.TRANSFER_IDLE_S]
        for transfer in idle:
            self._drop(transfer)
        return len(idle)

    def close_all(self) -> None:
        for transfer in list(self._open.values()):
            self._drop(transfer)
        self._io.shutdown(wait=False)
