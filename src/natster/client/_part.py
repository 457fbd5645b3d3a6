"""The ``.part`` file of a download: chunks written and hashed in order, off the event loop.

One worker thread writes each chunk and feeds it to the sha256 (both release the GIL),
so the event loop keeps receiving while the disk works. Where the file system allows it
the file is opened with ``O_DIRECT``: a large download then does not pass through (and
evict) the page cache. That is also most of its cost: on the 2-core VM natster is
benchmarked on, writing 1 GiB through the page cache took 0.3 to 2.7 CPU-seconds, with
``O_DIRECT`` 0.06. A write ``O_DIRECT`` refuses (a file system without it, a length or
offset off the block size: the last chunk) goes through the page cache instead.
"""

from __future__ import annotations

import asyncio
import errno
import mmap
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from natster.errors import TransferError

ALIGN = 4096  # O_DIRECT wants offsets, lengths and addresses on the device's blocks
_O_DIRECT = getattr(os, "O_DIRECT", 0)


def buffer(size: int) -> mmap.mmap:
    """A writable buffer whose address is page aligned (what ``O_DIRECT`` needs)."""
    return mmap.mmap(-1, max(size, 1))


class PartFile:
    """Writes a download from ``offset`` on, in order; ``digest`` sees every byte written."""

    def __init__(self, path: Path, offset: int, digest: Any) -> None:
        self.path, self._offset, self._digest = path, offset, digest
        flags = os.O_WRONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        self._fd, self._direct = -1, False
        for extra in (_O_DIRECT, 0) if _O_DIRECT else (0,):
            try:
                self._fd = os.open(path, flags | extra)
            except OSError as exc:
                if extra and exc.errno == errno.EINVAL:
                    continue  # this file system has no O_DIRECT
                raise self._error(exc) from exc
            self._direct = bool(extra)
            break
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="natster-write")

    async def write(self, data: memoryview) -> None:
        """Write ``data`` next (calls run in the order made, one at a time)."""
        await asyncio.get_running_loop().run_in_executor(self._thread, self._write, data)

    def _write(self, data: memoryview) -> None:
        self._digest.update(data)
        if self._direct and (self._offset % ALIGN or len(data) % ALIGN):
            self._buffered()
        done = 0
        while done < len(data):
            try:
                done += os.pwrite(self._fd, data[done:], self._offset + done)
            except OSError as exc:
                if self._direct and exc.errno == errno.EINVAL:
                    self._buffered()  # refused before anything was written: try again
                    continue
                raise self._error(exc) from exc
        self._offset += done

    def _buffered(self) -> None:
        import fcntl

        fcntl.fcntl(self._fd, fcntl.F_SETFL, fcntl.fcntl(self._fd, fcntl.F_GETFL) & ~_O_DIRECT)
        self._direct = False

    async def finish(self) -> None:
        """Make what was written durable (the caller renames the file next)."""

        def sync() -> None:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                raise self._error(exc) from exc

        await asyncio.get_running_loop().run_in_executor(self._thread, sync)

    def close(self) -> None:
        """Stop: a write in progress ends first, queued ones are dropped."""
        self._thread.shutdown(wait=True, cancel_futures=True)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _error(self, exc: OSError) -> TransferError:
        return TransferError(f"cannot write {self.path}: {exc.strerror or exc}")
