"""Open transfers that a player's ranges share.

A player asks for a file in many ranges: the start, the index at the end, and one for
every seek. Each would open a transfer of its own, a round trip to the owner before its
first byte (0.24 s behind two 60 ms lines). Here a range of a file already open, or
closed less than ``TRANSFER_REUSE_S`` ago, reads through the same transfer: its keys,
its id, its chunks checked as always (each request still passes the owner's access
check, so an unshare ends it as before). A transfer that failed is closed, not kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from natster import limits
from natster.client.transfer import Transfer

Key = tuple[str, str, str]  # owner, catalog, file hash


@dataclass
class _Held:
    transfer: Transfer
    users: int = 1
    closing: asyncio.TimerHandle | None = None
    failed: bool = False  # closed when its last range ends, and given to no other


class OpenFiles:
    """The transfers natster web has open, by file, and who is reading through each."""

    def __init__(self) -> None:
        self._held: dict[Key, _Held] = {}
        self._closing: set[asyncio.Task[None]] = set()

    async def take(self, key: Key, opening: Callable[[], Awaitable[Transfer]]) -> Transfer:
        """The file's open transfer, or one ``opening`` opens; give it back when done."""
        held = self._held.get(key)
        if held is not None and not held.failed:
            if held.closing is not None:
                held.closing.cancel()
                held.closing = None
            held.users += 1
            return held.transfer
        transfer = await opening()
        if key not in self._held or self._held[key].failed:  # or another range's, meanwhile
            self._held[key] = _Held(transfer)
        return transfer

    def give_back(self, key: Key, transfer: Transfer, *, failed: bool = False) -> None:
        """Done with ``transfer``: closed after ``TRANSFER_REUSE_S`` unless another range
        takes it first; once its last range ends if it ``failed`` (then given to no new
        one); at once if it is not the one kept."""
        held = self._held.get(key)
        if held is None or held.transfer is not transfer:
            self._close(transfer)
            return
        held.users -= 1
        held.failed = held.failed or failed
        if held.users > 0:
            return  # another range still reads through it
        if held.failed:
            del self._held[key]
            self._close(transfer)
        else:
            loop = asyncio.get_running_loop()
            held.closing = loop.call_later(limits.TRANSFER_REUSE_S, self._expire, key, held)

    async def close_all(self) -> None:
        for key, held in list(self._held.items()):
            if held.closing is not None:
                held.closing.cancel()
            del self._held[key]
            self._close(held.transfer)
        await asyncio.gather(*self._closing, return_exceptions=True)

    def _expire(self, key: Key, held: _Held) -> None:
        if self._held.get(key) is held and held.users <= 0:
            del self._held[key]
            self._close(held.transfer)

    def _close(self, transfer: Transfer) -> None:
        task = asyncio.get_running_loop().create_task(transfer.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
