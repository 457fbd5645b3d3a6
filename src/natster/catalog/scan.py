"""Scanning a folder into a catalog: walk, compare, hash what changed, apply in one transaction.

A rescan re-hashes only files whose size or mtime differ from the index; a file that
disappeared at one path and appeared at another with the same content is a rename
(it keeps its description). Files that cannot be catalogued are skipped with a
reason, never fatal.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from natster import limits

from .diff import diff_tree
from .hashing import Hashed, Unhashable, batches, hash_batch
from .index import Entry, Index
from .mime import sniff
from .walk import Found, Skipped


@dataclass
class ScanReport:
    added: int = 0
    changed: int = 0
    removed: int = 0
    renamed: int = 0
    unchanged: int = 0
    files_hashed: int = 0
    bytes_hashed: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    revision: int = 0
    seconds: float = 0.0

    @property
    def modified(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.renamed)

    def as_dict(self) -> dict[str, object]:
        return {
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "renamed": self.renamed,
            "unchanged": self.unchanged,
            "files_hashed": self.files_hashed,
            "bytes_hashed": self.bytes_hashed,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "revision": self.revision,
            "seconds": round(self.seconds, 3),
        }


WRITE_BATCH = 1000  # rows per executemany while scanning


class Progress(Protocol):
    def planned(self, files: int, size: int) -> None: ...

    def advance(self, files: int, size: int) -> None: ...


class _Silent:
    def planned(self, files: int, size: int) -> None:
        pass

    def advance(self, files: int, size: int) -> None:
        pass


def _size(found: Found) -> int:
    return found[2]


def _hash_one(path: str) -> Hashed | Unhashable:
    return hash_batch([path])[0]


def hash_all(todo: list[Found], workers: int) -> Iterator[tuple[Found, Hashed | Unhashable]]:
    """Every file of ``todo`` with its hash (or why not), in no particular order.

    Large files go to ``workers`` threads; small ones are hashed in batches on this
    thread meanwhile (for them, threads would only fight over the GIL).
    """
    large = [f for f in todo if f[2] >= limits.HASH_LARGE_FILE]
    small = [f for f in todo if f[2] < limits.HASH_LARGE_FILE]
    if not large or workers < 1:
        for batch in batches(todo, _size):  # a large file makes a batch of its own
            yield from zip(batch, hash_batch([f[1] for f in batch]), strict=True)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="natster-hash") as pool:
        futures = [(found, pool.submit(_hash_one, found[1])) for found in large]
        for batch in batches(small, _size):
            yield from zip(batch, hash_batch([f[1] for f in batch]), strict=True)
        for found, future in futures:
            yield found, future.result()


def apply_scan(
    index: Index,
    name: str,
    root: str,
    *,
    progress: Progress | None = None,
    under: str = "",
    workers: int | None = None,
) -> ScanReport:
    """Bring catalog ``name`` in line with ``root`` (or its subfolder ``under``).

    The caller holds :meth:`Index.transaction`: all of it lands, or none.
    """
    began = time.monotonic()
    progress = progress or _Silent()
    report = ScanReport()
    diff = diff_tree(index, name, root, under)
    todo, changed, gone = diff.todo, diff.changed, diff.gone
    report.unchanged = diff.unchanged
    report.skipped.extend(diff.skipped)
    by_hash: dict[str, list[Entry]] = {}
    for old in index.by_paths(name, sorted(gone)):
        by_hash.setdefault(old.hash, []).append(old)

    progress.planned(len(todo), sum(f[2] for f in todo))
    pending: list[Entry] = []
    workers = limits.HASH_WORKERS if workers is None else workers
    for (path, _, size, _), hashed in hash_all(todo, workers):
        if isinstance(hashed, Unhashable):
            if path in changed and "vanished" in str(hashed):
                gone.add(path)
            report.skipped.append(Skipped(path, str(hashed)))
            progress.advance(1, size)
            continue
        report.files_hashed += 1
        report.bytes_hashed += hashed.size
        pending.append(_entry(index, name, path, hashed, path in changed, by_hash, gone, report))
        if len(pending) >= WRITE_BATCH:
            index.put(name, pending)
            pending.clear()
        progress.advance(1, hashed.size)
    index.put(name, pending)

    for path in gone:
        index.delete(name, path)
        report.removed += 1
    report.revision = index.touch(name) if report.modified else index.root_and_revision(name)[1]
    report.seconds = time.monotonic() - began
    return report


def _entry(
    index: Index,
    name: str,
    path: str,
    hashed: Hashed,
    known: bool,
    by_hash: dict[str, list[Entry]],
    gone: set[str],
    report: ScanReport,
) -> Entry:
    """The entry for a freshly hashed file, counted as changed, renamed or added."""
    mime = sniff(path, hashed.head)
    description = ""
    if known:
        previous = index.get(name, path)
        description = previous.description if previous else ""
        report.changed += 1
    elif by_hash.get(hashed.sha256):
        moved = by_hash[hashed.sha256].pop()
        index.delete(name, moved.path)
        gone.discard(moved.path)
        description = moved.description
        report.renamed += 1
    else:
        report.added += 1
    return Entry(path, hashed.size, hashed.mtime_ns, hashed.sha256, mime, description)
