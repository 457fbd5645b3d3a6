"""Hashing files: sha256 in large blocks, both cores, never a whole file in memory."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from natster import limits

T = TypeVar("T")

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


def hash_batch(paths: list[str]) -> list[Hashed | Unhashable]:
    """Hash several files in one task: per-task overhead is paid once per batch."""
    results: list[Hashed | Unhashable] = []
    for path in paths:
        try:
            results.append(hash_file(path))
        except Unhashable as exc:
            results.append(exc)
    return results


def batches(
    items: Iterable[T],
    size_of: Callable[[T], int],
    max_files: int = limits.HASH_BATCH_FILES,
    max_bytes: int = limits.HASH_BATCH_BYTES,
) -> Iterator[list[T]]:
    """Group items so each batch holds many small files, or one large one."""
    batch: list[T] = []
    held = 0
    for item in items:
        size = size_of(item)
        if batch and (len(batch) >= max_files or held + size > max_bytes):
            yield batch
            batch, held = [], 0
        batch.append(item)
        held += size
    if batch:
        yield batch
