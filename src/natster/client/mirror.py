"""Keeping a copy: a folder that mirrors a catalog (or one folder of it).

A pass lists the catalog, then brings the copy to it with as few bytes sent as it can:
a file it brought, still unchanged, is left alone; content it brought under another
name (the same sha256) is linked or copied locally; only the rest is downloaded. With
``delete``, files the mirror brought earlier and the owner no longer has go (a rename
is a local move: 0 bytes sent).

Files the mirror did not bring are never touched, whatever the owner lists: one at a
listed path is left alone and reported (skipped), even when its content is the
listed one, and none is read to spare a download (so an owner cannot learn what else
the folder holds). With ``adopt``, files already here with the listed content (at
the listed path, or under another name) are taken over as if brought: a download is
spared, and they are the mirror's from then on (``delete`` may remove them).

What the mirror brought is kept in ``.natster-mirror`` in the folder (path -> sha256,
size, modification time), so later passes trust an unchanged file without hashing it;
a file changed here since is no longer the mirror's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict, Unpack

from natster import events as ev
from natster import limits, wire
from natster._quiet import quietly
from natster.errors import CatalogOffline, NotShared, TransferError, UnsafePath
from natster.names import is_hash

from . import _target
from ._client import NatsterClient
from .download import Progress, download, sha256_of, verified
from .remote import CatalogRef, pages

__all__ = ["Hooks", "MirrorReport", "keep_in_sync", "mirror_pass"]

log = logging.getLogger(__name__)
STATE_FILE = ".natster-mirror"
IN_THE_WAY = "a file this copy did not bring is there: left alone (--adopt takes it over)"
_STATE_VERSION = 1

Record = tuple[str, int, int]  # sha256, size, modification time (ns) of a file it brought


@dataclass
class MirrorReport:
    """What one pass did (``sent``: bytes that crossed the network)."""

    new: int = 0
    updated: int = 0
    renamed: int = 0
    deleted: int = 0
    unchanged: int = 0
    sent: int = 0
    skipped: list[str] = field(default_factory=list)  # a peer's unsafe paths, with why

    def changed(self) -> bool:
        return bool(self.new or self.updated or self.renamed or self.deleted)


@dataclass(frozen=True)
class Hooks:
    """How a pass shows its work: each download's start and progress, resumes."""

    start: Callable[[str, int], None] = lambda path, size: None
    progress: Progress | None = None
    resumed: Callable[[str, int], None] = lambda path, kept: None


def _read_state(folder: Path) -> dict[str, Record]:
    try:
        data = json.loads((folder / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    if data.get("version") != _STATE_VERSION or not isinstance(files, dict):
        return {}
    kept: dict[str, Record] = {}
    for path, record in files.items():
        if (
            isinstance(record, list)
            and len(record) == 3
            and isinstance(record[0], str)
            and is_hash(record[0])
            and all(isinstance(n, int) for n in record[1:])
        ):
            kept[path] = (record[0], record[1], record[2])
    return kept


def _write_state(folder: Path, files: dict[str, Record]) -> None:
    """Atomically: a pass cut short leaves the previous state or the new one."""
    body = json.dumps({"version": _STATE_VERSION, "files": files}, sort_keys=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".natster-mirror.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, folder / STATE_FILE)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _stamp(path: Path) -> tuple[int, int] | None:
    """Size and modification time of a regular file (not a link), or None."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not _target.is_regular(path):
        return None
    return st.st_size, st.st_mtime_ns


class _Here:
    """What the folder holds: files the mirror brought (trusted while their size and time
    match), and, with ``adopt`` only (hashed when a wanted size matches), files it did
    not bring."""

    def __init__(self, folder: Path, state: dict[str, Record], adopt: bool = False) -> None:
        self.folder, self.adopt = folder, adopt
        self.records: dict[str, Record] = {}
        for path, record in state.items():
            try:
                target = _target.inside(folder, path)
            except UnsafePath:
                continue
            if _stamp(target) == (record[1], record[2]):
                self.records[path] = record
        self.by_hash: dict[str, str] = {}
        for path, (sha, _, _) in sorted(self.records.items()):
            self.by_hash.setdefault(sha, path)

    def holds(self, path: str, entry: wire.EntryRow) -> bool:
        """``path`` already is ``entry`` (trusted by the record, else hashed once)."""
        record = self.records.get(path)
        if record is not None:
            return record[0] == entry.hash
        if not self.adopt:
            return False
        target = self.folder / path
        stamp = _stamp(target)
        if stamp is None or stamp[0] != entry.size or not verified(target, entry.hash):
            return False
        self.records[path] = (entry.hash, *stamp)  # the stamp it was hashed at
        return True

    def keep(self, path: str, entry: wire.EntryRow, target: Path) -> None:
        """``path`` now holds ``entry``'s content (as ``target`` is now)."""
        self.records[path] = (entry.hash, *(_stamp(target) or (entry.size, 0)))

    def source_of(self, entry: wire.EntryRow) -> str | None:
        """A file here with the entry's content, under any name."""
        return self.by_hash.get(entry.hash)

    def look_around(self, needed: list[wire.EntryRow], skip: set[str]) -> None:
        """With ``adopt``, hash the files here the mirror did not bring whose size a
        needed entry has: content put here some other way is not sent again."""
        sizes = {entry.size for entry in needed}
        hashes = {entry.hash for entry in needed} - set(self.by_hash)
        if not hashes or not self.adopt:
            return
        for root, dirs, files in os.walk(self.folder):
            dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(root, d)))
            for name in sorted(files):
                if name == STATE_FILE or name.endswith(_target.PART_SUFFIX):
                    continue
                path = Path(root, name)
                local = path.relative_to(self.folder).as_posix()
                if local in self.records or local in skip:
                    continue
                stamp = _stamp(path)
                if stamp is None or stamp[0] not in sizes:
                    continue
                digest = sha256_of(path)
                if digest in hashes:
                    self.by_hash.setdefault(digest, local)
                    hashes.discard(digest)
                    if not hashes:
                        return


def _place(source: Path, target: Path) -> None:
    """``target`` gets ``source``'s content: a hard link where it can, else a copy;
    atomically (a temporary name beside it, then a rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".natster-", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _prune(folder: Path, path: str) -> None:
    """Remove the folders ``path`` leaves empty, up to (not including) ``folder``."""
    parent = (folder / path).parent
    while parent != folder and folder in parent.parents:
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent


async def mirror_pass(
    client: NatsterClient,
    ref: CatalogRef,
    folder: Path,
    *,
    prefix: str = "",
    delete: bool = False,
    adopt: bool = False,
    hooks: Hooks | None = None,
) -> MirrorReport:
    """Bring ``folder`` to what the catalog holds under ``prefix`` (which is left out of
    the paths here); see the module's docstring."""
    hooks = hooks or Hooks()
    report = MirrorReport()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TransferError(f"cannot write to {folder}: {exc.strerror or exc}") from exc
    here = _Here(folder, _read_state(folder), adopt)
    wanted: dict[str, tuple[wire.EntryRow, Path]] = {}
    async for page in pages(client, ref, prefix=prefix):
        for entry in page.entries:
            local = entry.path[len(prefix) :]
            try:
                wanted[local] = (entry, _target.inside(folder, local))
            except UnsafePath as exc:
                report.skipped.append(f"{entry.path}: {exc}")
    gone = {p for p in here.records if p not in wanted} if delete else set()
    moved_from: set[str] = set()
    fetch: list[tuple[str, wire.EntryRow, Path, bool]] = []
    missing = []
    for local, (entry, target) in wanted.items():
        if os.path.lexists(target) and here.holds(local, entry):
            report.unchanged += 1
        elif os.path.lexists(target) and local not in here.records:
            report.skipped.append(f"{entry.path}: {IN_THE_WAY}")  # not the mirror's: kept
        else:
            missing.append(local)
    here.look_around([wanted[local][0] for local in missing], set(missing))
    for local in missing:
        entry, target = wanted[local]
        existed = os.path.lexists(target)
        source = here.source_of(entry)
        if source is not None and source != local:
            _place(folder / source, target)
            here.keep(local, entry, target)
            if source in gone and source not in moved_from:
                moved_from.add(source)
                report.renamed += 1
            elif existed:
                report.updated += 1
            else:
                report.new += 1
            continue
        fetch.append((local, entry, target, existed))
    for source in sorted(gone):  # the owner's deletes (and the old names of renames)
        (folder / source).unlink(missing_ok=True)
        here.records.pop(source, None)
        _prune(folder, source)
        if source not in moved_from:
            report.deleted += 1
    _write_state(folder, here.records)
    for local, entry, target, existed in fetch:
        hooks.start(entry.path, entry.size)
        resumed = functools.partial(hooks.resumed, entry.path)
        sent = await download(client, ref, entry, target, progress=hooks.progress, resumed=resumed)
        report.sent += sent
        here.keep(local, entry, target)
        _write_state(folder, here.records)
        if existed:
            report.updated += 1
        else:
            report.new += 1
    return report


class PassOptions(TypedDict, total=False):
    """How a pass keeps the copy: see :func:`mirror_pass`."""

    prefix: str
    delete: bool
    adopt: bool
    hooks: Hooks | None


async def keep_in_sync(
    client: NatsterClient,
    ref: CatalogRef,
    folder: Path,
    *,
    after_pass: Callable[[MirrorReport], None] = lambda report: None,
    waiting: Callable[[str], None] = lambda why: None,
    **options: Unpack[PassOptions],
) -> None:
    """Passes for as long as it runs: one now, then one whenever the owner's catalog
    changes or comes online (and every few minutes, in case the feed missed something).
    Ends with :class:`NotShared` when the share ends; the copy stays as it is."""
    events: asyncio.Queue[ev.FeedEvent] = asyncio.Queue()
    me = client.account

    async def listen() -> None:
        async for event in client.feed():
            if (event.owner, event.catalog) == (ref.owner, ref.catalog):
                events.put_nowait(event)

    listener = asyncio.create_task(listen())
    try:
        await asyncio.sleep(0)  # subscribed before the first pass: no change is missed
        while True:
            try:
                after_pass(await mirror_pass(client, ref, folder, **options))
            except CatalogOffline:
                waiting(f"{ref.display(me)} is offline: waiting for it to come back")
            event = await _next_change(events, listener)
            if event is not None and event.kind == "unshared" and event.target == me:
                raise NotShared(
                    f"{ref.display(me)} is no longer shared with you: the copy in {folder} "
                    "stays as it is"
                )
    finally:
        listener.cancel()
        with (
            contextlib.suppress(asyncio.CancelledError),
            quietly(log, "stopping the mirror's listener"),
        ):
            await listener


async def _next_change(
    events: asyncio.Queue[ev.FeedEvent], listener: asyncio.Task[None]
) -> ev.FeedEvent | None:
    """The next change worth a pass, once changes settle (None: time for a pass anyway)."""
    try:
        first = await asyncio.wait_for(events.get(), limits.MIRROR_RESYNC_S)
    except TimeoutError:
        if listener.done():
            listener.result()  # the feed failed: say why
        return None
    while first.kind != "unshared":  # a burst of changes: one pass once it ends
        try:
            first = await asyncio.wait_for(events.get(), limits.MIRROR_SETTLE_S)
        except TimeoutError:
            break
    return first
