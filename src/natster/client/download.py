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
import re
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, cast

from natster import limits, wire
from natster._nats import stop_if_cancelled
from natster.errors import (
    EntryNotFound,
    IntegrityError,
    RemoteError,
    TargetExists,
    TransferError,
)
from natster.names import check_relpath, is_hash
from natster.security import xkeys

from . import _part, _target
from ._client import NatsterClient
from .remote import CatalogRef, page, pages
from .transfer import Buffers, Transfer

__all__ = [
    "Existing",
    "Progress",
    "default_target",
    "download",
    "find_entry",
    "locate",
    "open_or_locate",
    "settle_target",
]

Progress = Callable[[int, int], None]  # (bytes done, total bytes)
READ_BLOCK = 1024 * 1024
_SHORT_HASH = re.compile(r"[0-9a-f]{8,63}")  # a hash as tables show it (12), or 8 and more
WRITES_AHEAD = 2  # chunks handed to the writer thread and not yet on disk


async def find_entry(client: NatsterClient, ref: CatalogRef, hash_or_path: str) -> wire.EntryRow:
    """The catalog entry at that path, or with that sha256 (or a prefix of it: 8 hex
    digits or more, naming one content)."""
    if is_hash(hash_or_path):
        async for page in pages(client, ref):
            for entry in page.entries:
                if entry.hash == hash_or_path:
                    return entry
        raise EntryNotFound(f"no file in that catalog has the hash {hash_or_path}")
    prefix = hash_or_path.rsplit("/", 1)[0] + "/" if "/" in hash_or_path else ""
    async for page in pages(client, ref, prefix=prefix):
        for entry in page.entries:
            if entry.path == hash_or_path:
                return entry
    if not _SHORT_HASH.fullmatch(hash_or_path):
        raise EntryNotFound(f"no file in that catalog has the path {hash_or_path!r}")
    found: dict[str, wire.EntryRow] = {}
    async for page in pages(client, ref):
        for entry in page.entries:
            if entry.hash.startswith(hash_or_path):
                found.setdefault(entry.hash, entry)
    if len(found) > 1:
        named = ", ".join(sorted(e.path for e in found.values())[:5])
        raise EntryNotFound(
            f"several files' hashes start with {hash_or_path}: {named}; give more of it"
        )
    if not found:
        raise EntryNotFound(f"no file in that catalog has the path or hash {hash_or_path!r}")
    return next(iter(found.values()))


async def folder_of(client: NatsterClient, ref: CatalogRef, wanted: str) -> str | None:
    """``wanted`` as a folder of the catalog ("trips/"), if it names one: it ends with
    "/", or it is no file's path and files are under it. None for a file."""
    path = wanted.strip()
    if is_hash(path):
        return None
    folder = path.strip("/")
    if folder in ("", "."):
        return ""
    check_relpath(folder)
    if (await page(client, ref, prefix=folder + "/", limit=1)).entries:
        return folder + "/"
    if path.endswith("/"):
        raise EntryNotFound(f"that catalog has no folder {folder!r}")
    return None


async def locate(client: NatsterClient, ref: CatalogRef, wanted: str) -> str | wire.EntryRow:
    """What ``wanted`` names: a folder (its prefix, "trips/", as :func:`folder_of`) or a
    file's entry (as :func:`find_entry`). A plain path takes one request, not two: the
    page of paths starting with it holds the file itself, or what is in the folder."""
    path = wanted.strip()
    if not is_hash(path) and path.strip("/") not in ("", ".") and not path.endswith("/"):
        check_relpath(path)
        got = await page(client, ref, prefix=path)
        for entry in got.entries:
            if entry.path == path:
                return entry
        if any(entry.path.startswith(path + "/") for entry in got.entries):
            return path + "/"
        if got.next is None:  # all under it seen: no such folder; a hash's start, or none
            return await find_entry(client, ref, wanted)
    folder = await folder_of(client, ref, wanted)  # a hash, a folder by its "/", or more
    return folder if folder is not None else await find_entry(client, ref, wanted)


async def open_or_locate(client: NatsterClient, ref: CatalogRef, wanted: str) -> Transfer | str:
    """What ``wanted`` names, opened if it is a file (see :func:`download`), or a folder's
    prefix (as :func:`locate`). A plain path takes one request: a transfer-open by path."""
    path = wanted.strip()
    if not is_hash(path) and path.strip("/") not in ("", ".") and not path.endswith("/"):
        check_relpath(path)
        try:
            return await Transfer(client, ref, path=path).open()
        except RemoteError as exc:  # 404: no file there (a folder?); 400: an older server
            if exc.status not in (400, 404):
                raise
    found = await locate(client, ref, wanted)
    if isinstance(found, str):
        return found
    return await Transfer(client, ref, found.hash, size=found.size).open()


def default_target(entry: wire.EntryRow | Transfer, output: str | None) -> Path:
    """A single download's path: ``output``; a file in it if it ends with "/" (made if
    need be) or is a folder already; else the file's own name, here."""
    name = _target.file_name(entry.path)
    if not output:
        return Path(name)
    if output.endswith(("/", os.sep)) or Path(output).is_dir():
        return Path(output) / name
    return Path(output)


Existing = Literal["refuse", "replace", "rename"]  # a different file where one goes


def settle_target(
    final: Path, entry: wire.EntryRow | Transfer, existing: Existing = "refuse"
) -> Path | None:
    """Where a single download of ``entry`` goes, given what is there already: ``final``
    while it is free; None when it holds that very file (same size and sha256: nothing to
    fetch). A different file there is refused (:class:`TargetExists`), replaced once the
    download is whole and verified (``replace``), or kept beside a new ``name (1).ext``
    (``rename``)."""
    if not os.path.lexists(final):
        return final
    same_size = _target.is_regular(final) and final.stat().st_size == entry.size
    if same_size and sha256_of(final) == entry.hash:
        return None
    if existing == "replace":
        return final
    if existing == "rename":
        return _target.free_name(final)
    raise TargetExists(
        f"{final} is already there and is not that file: nothing was changed "
        "(--force replaces it, --rename keeps both)"
    )


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


def sha256_of(path: Path) -> str:
    """The sha256 of a whole file, hex."""
    return str(_sha256_of(path, path.stat().st_size).hexdigest())


def verified(path: Path, expected: str) -> bool:
    """``path`` is a regular file (not a link) with that sha256."""
    return _target.is_regular(path) and sha256_of(path) == expected


async def download(
    client: NatsterClient,
    ref: CatalogRef,
    entry: wire.EntryRow | Transfer,
    final: Path,
    progress: Progress | None = None,
    in_flight: int = limits.DOWNLOAD_IN_FLIGHT,
    resumed: Callable[[int], None] | None = None,
) -> int:
    """Download ``entry`` to ``final``; returns the bytes transferred (less on a resume,
    which ``resumed`` hears of first, with the bytes kept). ``entry`` is the catalog's, or
    a transfer already open (:func:`open_or_locate`), which this closes.

    ``final`` is where the caller decided (see :mod:`._target` for a peer's path); the
    ``.part`` beside it is never a link, and a link at ``final`` is replaced, not followed.
    """
    part = _target.part_of(final, entry.hash)
    opened = entry if isinstance(entry, Transfer) else None
    try:
        held = _held(part)
    except BaseException:
        if opened is not None:
            await opened.close()
        raise
    if opened is None:
        opened = await Transfer(client, ref, entry.hash, size=entry.size).open()
    async with opened as transfer:
        await transfer.settled()  # a whole file waits (half a second at most) for the direct path
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
        if have and resumed is not None:
            resumed(have)
        try:
            await _receive(transfer, sink, have // chunk_size, in_flight, progress)
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


def _held(part: Path) -> int:
    """The bytes the ``.part`` file holds (made ready to hold them: its folder exists)."""
    try:
        part.parent.mkdir(parents=True, exist_ok=True)
        if not os.path.lexists(part):
            return 0
        held = os.lstat(part).st_size
    except OSError as exc:
        raise TransferError(f"cannot write to {part.parent}: {exc.strerror or exc}") from exc
    if not _target.is_regular(part):
        raise TransferError(f"{part} is not a regular file: move it away first")
    return held


async def _receive(
    transfer: Transfer,
    sink: _part.PartFile,
    first: int,
    in_flight: int,
    progress: Progress | None,
) -> None:
    """Fetch chunks ``first`` on, ``in_flight`` bytes at most asked at a time (as the
    link allows: see ``_flow``), and hand them to ``sink`` in order."""
    size, chunk_size, chunks = transfer.size, transfer.chunk_size, transfer.chunks
    flow = transfer.flow()
    flow.max_in_flight = min(flow.max_in_flight, max(in_flight, chunk_size))
    writes: deque[tuple[asyncio.Task[None], int, memoryview]] = deque()
    # Reused, never reallocated: a span's worth each (pages are taken only as they are
    # written, and the last one freed is the next one taken), as many as the bound
    # needs in flight in spans of a few chunks (a middling link's, and the last ones
    # of a file) plus those being written.
    span_bytes = transfer.span * chunk_size
    count = -(-flow.max_in_flight // (min(transfer.span, 4) * chunk_size)) + WRITES_AHEAD
    free: Buffers = [_part.buffer(span_bytes) for _ in range(count)]
    try:
        fetched = transfer.fetch(first, chunks, flow=flow, buffers=free)
        async with contextlib.aclosing(fetched):
            async for index, data in fetched:
                end = index * chunk_size + len(data)
                writes.append((asyncio.create_task(sink.write(data)), end, data))
                while writes and (len(writes) > WRITES_AHEAD or end == size):
                    task, written, done = writes.popleft()
                    await task
                    stop_if_cancelled()
                    free.append(cast(xkeys.Writable, done.obj))  # its buffer, free again
                    if progress:
                        progress(written, size)
    except BaseException:
        tasks = [write for write, _, _ in writes]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
