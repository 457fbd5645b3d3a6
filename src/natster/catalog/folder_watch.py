"""Watching a catalog's folder: additions, edits, deletions and renames land in the index.

Changes are gathered for a short debounce, then the folders they touched are
rescanned (in a worker thread, with its own index connection), so a burst of
changes costs one small rescan and a rename across folders is still a rename.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import watchfiles

from natster import limits

from .local import Catalogs
from .scan import ScanReport

log = logging.getLogger(__name__)

OnChange = Callable[[ScanReport], Awaitable[None]]


def folders_to_rescan(root: str, changed: Iterable[str]) -> list[str]:
    """The smallest set of catalog folders ("" for the root) that covers every change."""
    real_root = os.path.realpath(root)
    folders: set[str] = set()
    for path in changed:
        parent = os.path.dirname(os.path.realpath(path) if os.path.islink(path) else path)
        rel = os.path.relpath(parent, real_root)
        if rel.startswith(".."):
            continue
        folders.add("" if rel == "." else rel.replace(os.sep, "/"))
    chosen: list[str] = []
    for folder in sorted(folders, key=lambda f: (len(f), f)):
        if not any(folder == c or folder.startswith(c + "/") or c == "" for c in chosen):
            chosen.append(folder)
    return sorted(chosen)


def _rescan(home: Path, name: str, folders: list[str]) -> ScanReport:
    total = ScanReport()
    with Catalogs(home) as catalogs:
        for folder in folders:
            report = catalogs.rescan(name, under=folder)
            for key in ("added", "changed", "removed", "renamed", "unchanged"):
                setattr(total, key, getattr(total, key) + getattr(report, key))
            total.skipped += report.skipped
            total.revision = report.revision
    return total


async def watch_catalog(
    home: Path, name: str, on_change: OnChange, stop: asyncio.Event | None = None
) -> None:
    """Keep catalog ``name`` in line with its folder until ``stop`` is set."""
    with Catalogs(home) as catalogs:
        root = catalogs.info(name).root
    stop = stop or asyncio.Event()
    async for changes in watchfiles.awatch(
        root,
        watch_filter=None,
        debounce=limits.WATCH_DEBOUNCE_MS,
        step=50,
        stop_event=stop,
        ignore_permission_denied=True,
    ):
        folders = folders_to_rescan(root, (path for _, path in changes))
        if not folders:
            continue
        # A rename across folders shows up as two changes: rescan both in one go.
        if len(folders) > 1:
            folders = [""] if any(f == "" for f in folders) else folders
        try:
            report = await asyncio.to_thread(_rescan, home, name, folders)
        except Exception:
            log.exception("rescanning %s after a change failed", name)
            continue
        if report.modified:
            log.info(
                "catalog %s: revision %d (+%d ~%d -%d >%d)",
                name,
                report.revision,
                report.added,
                report.changed,
                report.removed,
                report.renamed,
            )
            await on_change(report)
