"""Random access over the transfer protocol: any byte range of a shared file.

The web player's seeking (HTTP Range) reads through this. Every chunk is authenticated
(sealed for this transfer and this position), so each byte comes from the owner's server
unaltered; a range cannot be checked against the file's sha256 (only a whole download
is, see :mod:`natster.client.download`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from natster import limits

from ._client import NatsterClient
from .download import _fetch, _Session, stop_if_cancelled
from .remote import CatalogRef


@dataclass(frozen=True)
class OpenedFile:
    path: str
    size: int


class FileReader:
    """One shared file, opened by hash for reading ranges; close it when done."""

    def __init__(self, client: NatsterClient, ref: CatalogRef, file_hash: str) -> None:
        self._session = _Session(client, ref, file_hash, chunk_size=limits.STREAM_CHUNK_SIZE)

    async def open(self) -> OpenedFile:
        opened = await self._session.open()
        return OpenedFile(path=opened.path, size=opened.size)

    async def read(
        self, start: int, end: int, window: int = limits.STREAM_WINDOW
    ) -> AsyncIterator[bytes]:
        """The bytes ``start`` to ``end`` (exclusive), a chunk's worth at a time."""
        opened = self._session.opened
        if opened is None:
            raise RuntimeError("open the file first")
        end = min(end, opened.size)
        if start >= end:
            return
        size = opened.chunk_size
        first, last = start // size, (end - 1) // size
        pending: dict[int, asyncio.Task[memoryview]] = {}
        next_index = first
        try:
            for index in range(first, last + 1):
                while next_index <= last and len(pending) < window:
                    buffer = bytearray(size)
                    pending[next_index] = asyncio.create_task(
                        _fetch(self._session, next_index, buffer)
                    )
                    next_index += 1
                data = await pending.pop(index)
                stop_if_cancelled()
                base = index * size
                yield bytes(data[max(start, base) - base : min(end, base + len(data)) - base])
        finally:
            for task in pending.values():
                task.cancel()

    async def close(self) -> None:
        await self._session.close()
