"""Receiving files: windowed, verified, resumable downloads over the transfer protocol.

The file grows in ``<name>.part`` and appears at its final path only when complete and
its sha256 matches the catalog: a failed or tampered download never replaces anything.
An interrupted download continues from what the ``.part`` file holds (re-hashed, so a
damaged part cannot sneak in), even across a restart of the catalog server.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import mmap
import os
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from natster import _nats, limits, wire
from natster._nats import Client
from natster.errors import (
    ConnectionFailed,
    CryptoError,
    IntegrityError,
    NatsterError,
    ProtocolError,
    RemoteError,
    RequestTimeout,
    ServiceUnavailable,
    TransferError,
    TransferStalled,
)
from natster.names import is_hash
from natster.security import Channel, XKey, xkeys

from . import _part, _target
from ._client import NatsterClient
from .remote import CatalogRef, _request, ask, pages

Progress = Callable[[int, int], None]  # (bytes done, total bytes)
READ_BLOCK = 1024 * 1024
WRITES_AHEAD = 2  # chunks handed to the writer thread and not yet on disk


async def find_entry(client: NatsterClient, ref: CatalogRef, hash_or_path: str) -> wire.EntryRow:
    """The catalog entry with that sha256 (hex), or at that path."""
    by_hash = is_hash(hash_or_path)
    prefix = "" if by_hash else hash_or_path.rsplit("/", 1)[0] + "/" if "/" in hash_or_path else ""
    async for page in pages(client, ref, prefix=prefix):
        for entry in page.entries:
            if (entry.hash == hash_or_path) if by_hash else (entry.path == hash_or_path):
                return entry
    raise TransferError(f"no file in that catalog has the path or hash {hash_or_path!r}")


def destination(folder: Path, entry: wire.EntryRow) -> Path:
    """Where ``entry`` lands in a mirror under ``folder``; UnsafePath if it cannot safely."""
    return _target.inside(folder, entry.path)


def default_target(entry: wire.EntryRow, output: Path | None) -> Path:
    """A single download's path: ``output``, a file in the folder ``output``, or here."""
    name = _target.file_name(entry.path)
    if output is None:
        return Path(name)
    return output / name if output.is_dir() else output


def _sha256_of(path: Path, length: int) -> Any:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        remaining = length
        while remaining:
            block = handle.read(min(READ_BLOCK, remaining))
            if not block:
                break
            digest.update(block)
            remaining -= len(block)
    return digest


def verified(path: Path, expected: str) -> bool:
    """``path`` is a regular file (not a link) with that sha256."""
    if not _target.is_regular(path):
        return False
    return bool(_sha256_of(path, path.stat().st_size).hexdigest() == expected)


class _Session:
    """One open transfer: its id and its key, replaced when the server restarts."""

    def __init__(
        self,
        client: NatsterClient,
        ref: CatalogRef,
        file_hash: str,
        size: int | None = None,
        chunk_size: int = limits.CHUNK_SIZE,
    ) -> None:
        self.client, self.ref, self.hash, self.size = client, ref, file_hash, size
        self.chunk_size = wire.chunk_size_within(chunk_size, client.nats.max_payload)
        self.opened: wire.TransferOpened | None = None
        self.channel: Channel | None = None
        self._reopening = asyncio.Lock()

    async def reopen(self, stale: str | None) -> None:
        """Open a new transfer, once, however many chunk tasks found the old one gone."""
        async with self._reopening:
            if self.opened is None or self.opened.transfer == stale:
                await self.open()

    async def open(self) -> wire.TransferOpened:
        key = XKey.create()  # fresh for every transfer: never reused
        body = wire.TransferOpenRequest(
            hash=self.hash, xkey=key.public_key, chunk_size=self.chunk_size
        )
        opened = await ask(self.client, self.ref, "transfer-open", wire.TransferOpened, body)
        who = f"catalog {self.ref.display(self.client.account)}"
        if opened.chunk_size > self.chunk_size:  # the server may shrink chunks, never grow them
            raise ProtocolError(f"{who} sent chunks larger than asked for")
        if self.size is None:
            self.size = opened.size  # the first open fixes it: a reopen must agree
        if opened.size != self.size:
            raise TransferError("the server's file is not the catalog's: ask for a rescan")
        self.opened, self.channel = opened, key.channel(opened.xkey)
        return opened

    async def chunk(self, index: int, out: xkeys.Writable) -> memoryview:
        opened, channel = self.opened, self.channel
        if opened is None or channel is None:
            raise TransferError("no open transfer")
        body = wire.TransferChunkRequest(transfer=opened.transfer, index=index)
        subject = self.ref.subject(self.client.account, "transfer-chunk")
        async with self.client.receive_budget.hold(opened.chunk_size + xkeys.OVERHEAD):
            data = await _nats.request_raw(
                self.client.nats,
                subject,
                body.model_dump_json().encode(),
                timeout=limits.CHUNK_TIMEOUT_S,
                what="the catalog server",
                lost="the connection to the hub was lost: run the download again to resume",
            )
        if not data.startswith(b"xkv1"):
            wire.unwrap(data)  # raises the server's error
            raise TransferError("the server sent a chunk natster cannot read")
        try:
            length = channel.open_into(data, out, aad=wire.chunk_aad(opened.transfer, index))
        except CryptoError as exc:
            raise IntegrityError(
                f"chunk {index} failed its check (tampered with, replayed or misplaced): "
                "nothing was kept"
            ) from exc
        expected = min(opened.chunk_size, opened.size - index * opened.chunk_size)
        if length != expected:
            raise IntegrityError(f"chunk {index} has the wrong length: nothing was kept")
        return memoryview(out)[:length]

    async def close(self) -> None:
        """Tell the server this transfer is done (once; later calls do nothing)."""
        opened, self.opened = self.opened, None
        if opened is not None:
            body = wire.TransferCloseRequest(transfer=opened.transfer)
            with contextlib.suppress(NatsterError):
                await _request(self.client, self.ref, "transfer-close", body)


async def download(
    client: NatsterClient,
    ref: CatalogRef,
    entry: wire.EntryRow,
    final: Path,
    progress: Progress | None = None,
    window: int = limits.TRANSFER_WINDOW,
) -> int:
    """Download ``entry`` to ``final``; returns the bytes transferred (less on a resume).

    ``final`` is where the caller decided (see :mod:`._target` for a peer's path); the
    ``.part`` beside it is never a link, and a link at ``final`` is replaced, not followed.
    """
    part = _target.part_of(final, entry.hash)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        held = os.lstat(part).st_size if os.path.lexists(part) else 0
        if os.path.lexists(part) and not _target.is_regular(part):
            raise TransferError(f"{part} is not a regular file: move it away first")
    except OSError as exc:
        raise TransferError(f"cannot write to {final.parent}: {exc.strerror or exc}") from exc
    session = _Session(client, ref, entry.hash, entry.size)
    try:
        opened = await session.open()
        size, chunk_size = opened.size, opened.chunk_size
        # Keep what is there, up to a whole chunk, and hash it: a damaged part shows.
        have = min(held - held % chunk_size, size - size % chunk_size if size else 0)
        try:
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            try:
                os.ftruncate(fd, have)
            finally:
                os.close(fd)
            digest = _sha256_of(part, have)
        except OSError as exc:
            raise TransferError(f"cannot write {part}: {exc.strerror or exc}") from exc
        sink = _part.PartFile(part, have, digest)
        try:
            await _receive(session, opened, sink, have // chunk_size, window, progress)
            await sink.finish()
        finally:
            sink.close()
    finally:
        await session.close()
    if digest.hexdigest() != entry.hash:
        part.unlink(missing_ok=True)
        raise IntegrityError(f"{entry.path} does not match the catalog's sha256: nothing was kept")
    try:
        os.replace(part, final)
    except OSError as exc:  # e.g. a folder in the way: the verified .part stays
        raise TransferError(f"cannot move {part.name} to {final}: {exc.strerror or exc}") from exc
    return size - have


async def _receive(
    session: _Session,
    opened: wire.TransferOpened,
    sink: _part.PartFile,
    first: int,
    window: int,
    progress: Progress | None,
) -> None:
    """Fetch chunks ``first`` on, ``window`` at a time, and hand them to ``sink`` in order."""
    size, chunk_size = opened.size, opened.chunk_size
    pending: dict[int, asyncio.Task[memoryview]] = {}
    writes: deque[tuple[asyncio.Task[None], int]] = deque()
    # Reused, never reallocated: `window` chunks in flight plus those being written.
    free = [_part.buffer(chunk_size) for _ in range(window + WRITES_AHEAD)]
    lent: dict[int, mmap.mmap] = {}
    next_index = index_to_write = first
    try:
        while index_to_write < opened.chunks:
            while next_index < opened.chunks and len(pending) < window and free:
                lent[next_index] = free.pop()
                fetch = _fetch(session, next_index, lent[next_index])
                pending[next_index] = asyncio.create_task(fetch)
                next_index += 1
            data = await pending.pop(index_to_write)
            stop_if_cancelled()
            writes.append((asyncio.create_task(sink.write(data)), index_to_write))
            index_to_write += 1
            while writes and (len(writes) > WRITES_AHEAD or index_to_write == opened.chunks):
                task, index = writes.popleft()
                await task
                stop_if_cancelled()
                free.append(lent.pop(index))
                if progress:
                    progress(min(size, (index + 1) * chunk_size), size)
    except BaseException:
        tasks: list[asyncio.Task[Any]] = [*pending.values(), *(write for write, _ in writes)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _reconnected(nc: Client) -> bool:
    """Wait while the connection reconnects; True once it is back, False if it closed."""
    deadline = asyncio.get_running_loop().time() + limits.CHUNK_TIMEOUT_S * 2
    while asyncio.get_running_loop().time() < deadline:
        if nc.is_connected:
            return True
        if nc.is_closed:
            return False
        await asyncio.sleep(0.2)
    return False


def stop_if_cancelled() -> None:
    """Raise the cancellation (Ctrl-C) that nats-py's request may have swallowed.

    On Python 3.11, ``asyncio.wait_for`` returns the result instead of raising when a
    cancel races the reply (CPython gh-86296), and nats-py's request waits with it; at
    this speed that race is common. The task still counts the cancel: honour it here.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _fetch(session: _Session, index: int, out: xkeys.Writable) -> memoryview:
    """One chunk, asked again on timeouts, the transfer reopened if the server restarted.

    Waiting out a hub that is reconnecting, or a server re-reading its shares (503),
    costs no try: those end on their own (or the connection closes, and that is final).
    """
    attempt, waits = 0, 0
    while attempt <= limits.CHUNK_RETRIES:
        stale = session.opened.transfer if session.opened else None
        try:
            return await session.chunk(index, out)
        except (RequestTimeout, ServiceUnavailable):
            await asyncio.sleep(min(2.0, 0.2 * (attempt + 1)))
        except ConnectionFailed:  # the hub went away: wait for the connection to come back
            waits += 1
            if waits > limits.ACCESS_CHECK_WAITS or not await _reconnected(session.client.nats):
                raise
            continue
        except RemoteError as exc:
            if exc.status == 503 and waits < limits.ACCESS_CHECK_WAITS:
                waits += 1  # the server is re-reading its shares (after a hub restart)
                await asyncio.sleep(1.0)
                continue
            if exc.status != 404:  # 404: the server forgot the transfer (restarted)
                raise
        attempt += 1
        with contextlib.suppress(NatsterError):
            await session.reopen(stale)
    raise TransferStalled(
        f"the download stalled: no answer for chunk {index} after {limits.CHUNK_RETRIES + 1} tries"
    )
