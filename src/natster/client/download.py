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
import os
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from natster import limits, wire
from natster.errors import IntegrityError, TransferError
from natster.names import is_hash
from natster.security import xkeys

from . import _part, _target
from ._client import NatsterClient
from .remote import CatalogRef, pages
from .transfer import Buffers, Transfer, stop_if_cancelled

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
    async with await Transfer(client, ref, entry.hash, size=entry.size).open() as transfer:
        size, chunk_size = transfer.size, transfer.chunk_size
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
            await _receive(transfer, sink, have // chunk_size, window, progress)
            await sink.finish()
        finally:
            sink.close()
    if digest.hexdigest() != entry.hash:
        part.unlink(missing_ok=True)
        raise IntegrityError(f"{entry.path} does not match the catalog's sha256: nothing was kept")
    try:
        os.replace(part, final)
    except OSError as exc:  # e.g. a folder in the way: the verified .part stays
        raise TransferError(f"cannot move {part.name} to {final}: {exc.strerror or exc}") from exc
    return size - have


async def _receive(
    transfer: Transfer,
    sink: _part.PartFile,
    first: int,
    window: int,
    progress: Progress | None,
) -> None:
    """Fetch chunks ``first`` on, ``window`` at a time, and hand them to ``sink`` in order."""
    size, chunk_size, chunks = transfer.size, transfer.chunk_size, transfer.chunks
    writes: deque[tuple[asyncio.Task[None], int, memoryview]] = deque()
    # Reused, never reallocated: `window` chunks in flight plus those being written.
    free: Buffers = [_part.buffer(chunk_size) for _ in range(window + WRITES_AHEAD)]
    try:
        fetched = transfer.fetch(first, chunks, window=window, buffers=free)
        async with contextlib.aclosing(fetched):
            async for index, data in fetched:
                writes.append((asyncio.create_task(sink.write(data)), index, data))
                while writes and (len(writes) > WRITES_AHEAD or index + 1 == chunks):
                    task, written, done = writes.popleft()
                    await task
                    stop_if_cancelled()
                    free.append(cast(xkeys.Writable, done.obj))  # its buffer, free again
                    if progress:
                        progress(min(size, (written + 1) * chunk_size), size)
    except BaseException:
        tasks = [write for write, _, _ in writes]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
