"""Scanning a folder into a catalog: walk, compare, hash what changed, apply in one transaction.

A rescan re-hashes only files whose size or mtime differ from the index; a file that
disappeared at one path and appeared at another with the same content is a rename
(it keeps its description). Files that cannot be catalogued are skipped with a
reason, never fatal.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from .hashing import Hashed, Unhashable, bounded_map, hash_file
from .index import Entry, Index
from .mime import sniff

# (catalog path, path to open, size, mtime_ns): a plain tuple, since a walk makes
# hundreds of thousands of them and an unchanged rescan is mostly this loop.
Found = tuple[str, str, int, int]


@dataclass(frozen=True, slots=True)
class Skipped:
    path: str
    reason: str


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


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def walk(root: str, skipped: list[Skipped], under: str = "") -> Iterator[Found]:
    """Regular files below ``root`` (or its subfolder ``under``), as catalog paths.

    Links are followed only to regular files inside the root; links to folders are
    not followed (no loops, no duplicates of whole trees).
    """
    real_root = os.path.realpath(root)
    stack = [(under + "/" if under else "", os.path.join(real_root, under) if under else real_root)]
    while stack:
        prefix, abs_dir = stack.pop()
        try:
            entries = list(os.scandir(abs_dir))
        except FileNotFoundError:
            continue
        except OSError as exc:
            where = prefix.rstrip("/") or "."
            skipped.append(Skipped(where, f"folder cannot be read ({exc.strerror})"))
            continue
        for item in entries:
            name = item.name
            rel = prefix + name
            if "\\" in name or not name.isprintable():
                skipped.append(Skipped(repr(rel)[1:-1], _name_problem(name)))
                continue
            try:
                # Most entries are plain files: d_type answers without a syscall.
                if item.is_file(follow_symlinks=False):
                    st = item.stat(follow_symlinks=False)
                    yield (rel, item.path, st.st_size, st.st_mtime_ns)
                    continue
                if item.is_dir(follow_symlinks=False):
                    stack.append((rel + "/", item.path))
                    continue
                found = _special(item, rel, real_root)
            except FileNotFoundError:
                found = "vanished during the scan"
            except OSError as exc:
                found = f"cannot be read ({exc.strerror})"
            if isinstance(found, str):
                skipped.append(Skipped(rel, found))
            else:
                yield found


def _name_problem(name: str) -> str:
    if "\\" in name:
        return "its name has a backslash"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8"
    return "its name has control characters"


def _special(item: os.DirEntry[str], rel: str, real_root: str) -> Found | str:
    """A link or something stranger: followed only to a regular file inside the root."""
    if not item.is_symlink():
        return "not a regular file (socket, pipe or device)"
    target = os.path.realpath(item.path)
    if not _inside(target, real_root):
        return "link points outside the catalog's folder"
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return "broken link"
    if stat.S_ISDIR(st.st_mode):
        return "links to folders are not followed"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    return (rel, target, st.st_size, st.st_mtime_ns)


def _hash(found: Found) -> Hashed:
    return hash_file(found[1])


def apply_scan(
    index: Index,
    name: str,
    root: str,
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
    known = index.stat_map(name, under)
    todo: list[Found] = []
    changed: set[str] = set()
    for found in walk(root, report.skipped, under):
        previous = known.pop(found[0], None)
        if previous is None:
            todo.append(found)
        elif previous[0] != found[2] or previous[1] != found[3]:
            todo.append(found)
            changed.add(found[0])
        else:
            report.unchanged += 1
    gone = set(known)  # what the walk did not see
    del known
    by_hash: dict[str, list[Entry]] = {}
    for old in index.by_paths(name, sorted(gone)):
        by_hash.setdefault(old.hash, []).append(old)

    progress.planned(len(todo), sum(f[2] for f in todo))
    pending: list[Entry] = []
    options = {"workers": workers} if workers else {}
    for (path, _, size, _), future in bounded_map(_hash, todo, **options):
        try:
            hashed = future.result()
        except Unhashable as exc:
            if path in changed and "vanished" in str(exc):
                gone.add(path)
            report.skipped.append(Skipped(path, str(exc)))
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
    report.revision = index.touch(name) if report.modified else index.info(name).revision
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
