"""Hashing files: sha256 in large blocks, both cores, never a whole file in memory."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from natster import limits

T = TypeVar("T")
R = TypeVar("R")

_local = threading.local()


@dataclass(frozen=True, slots=True)
class Hashed:
    sha256: str
    size: int
    mtime_ns: int
    head: bytes  # the first bytes, for MIME sniffing


class Unhashable(Exception):
    """A file that cannot be hashed now; the message says why (for the scan summary)."""


def _buffer() -> bytearray:
    buf: bytearray | None = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = bytearray(limits.HASH_BLOCK)
    return buf


def hash_file(path: str, attempts: int = 3) -> Hashed:
    """sha256 of ``path``; a file that changes while read is read again, then given up on."""
    for _ in range(attempts):
        try:
            result = _hash_once(path)
        except FileNotFoundError as exc:
            raise Unhashable("vanished during the scan") from exc
        except PermissionError as exc:
            raise Unhashable("permission denied") from exc
        except OSError as exc:
            raise Unhashable(f"cannot be read ({exc.strerror or exc})") from exc
        if result is not None:
            return result
    raise Unhashable("kept changing while being read")


def _hash_once(path: str) -> Hashed | None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise Unhashable("not a regular file")
        digest = hashlib.sha256()
        buf = _buffer()
        view = memoryview(buf)
        head = b""
        total = 0
        while True:
            n = os.readv(fd, [buf])
            if n == 0:
                break
            if total == 0:
                head = bytes(view[: min(n, limits.SNIFF_BYTES)])
            digest.update(view[:n])
            total += n
        after = os.fstat(fd)
    finally:
        os.close(fd)
    unchanged = (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns)
    if not unchanged or total != before.st_size:
        return None
    return Hashed(digest.hexdigest(), total, before.st_mtime_ns, head)


def bounded_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    workers: int = limits.HASH_WORKERS,
    window: int = limits.HASH_WINDOW,
) -> Iterator[tuple[T, Future[R]]]:
    """``fn`` over ``items`` on ``workers`` threads, in order, with at most ``window`` queued."""
    if workers <= 1:
        for item in items:
            future: Future[R] = Future()
            try:
                future.set_result(fn(item))
            except Exception as exc:
                future.set_exception(exc)
            yield item, future
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="natster-hash") as pool:
        pending: deque[tuple[T, Future[R]]] = deque()
        for item in items:
            pending.append((item, pool.submit(fn, item)))
            if len(pending) >= window:
                yield pending.popleft()
        while pending:
            yield pending.popleft()
