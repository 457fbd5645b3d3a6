"""A watched catalog follows its folder within 2 s, with a new revision each time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from natster.catalog import Catalogs, ScanReport, watch_catalog
from natster.catalog.folder_watch import folders_to_rescan


def test_folders_to_rescan(tmp_path: Path) -> None:
    root = str(tmp_path)
    changed = [f"{root}/a/b/c.txt", f"{root}/a/d.txt", f"{root}/x/y.txt", "/elsewhere/z"]
    assert folders_to_rescan(root, changed) == ["a", "x"]
    assert folders_to_rescan(root, [f"{root}/top.txt", f"{root}/a/b.txt"]) == [""]


async def test_additions_edits_deletions_and_renames_show_up(tmp_path: Path) -> None:
    root, home = tmp_path / "media", tmp_path / "home"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "old.txt").write_bytes(b"old")
    with Catalogs(home) as catalogs:
        catalogs.new("m", "", root)
        catalogs.describe("m", "sub/old.txt", "kept across the rename")
    revisions: list[int] = []

    async def on_change(report: ScanReport) -> None:
        revisions.append(report.revision)

    stop = asyncio.Event()
    task = asyncio.create_task(watch_catalog(home, "m", on_change, stop))
    await _until_watching(root, home)  # only then do the 2 s bounds below apply

    async def within(seconds: float, check: Callable[[dict[str, str]], bool]) -> float:
        began = time.monotonic()
        while time.monotonic() - began < seconds:
            with Catalogs(home) as catalogs:
                state = {e.path: e.description for e in catalogs.index.entries("m")}
            if check(state):
                return time.monotonic() - began
            await asyncio.sleep(0.05)
        raise AssertionError(f"not seen within {seconds} s: {state}")

    try:
        (root / "new.txt").write_bytes(b"new")
        await within(2, lambda s: "new.txt" in s)
        (root / "new.txt").write_bytes(b"edited and longer")
        await within(2, lambda s: _size(home, "new.txt") == len(b"edited and longer"))
        (root / "sub" / "old.txt").rename(root / "moved.txt")
        await within(
            2, lambda s: s.get("moved.txt") == "kept across the rename" and "sub/old.txt" not in s
        )
        (root / "new.txt").unlink()
        await within(2, lambda s: "new.txt" not in s)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert len(revisions) >= 4
    assert revisions == sorted(revisions)
    assert len(set(revisions)) == len(revisions)


async def _until_watching(root: Path, home: Path) -> None:
    """The watcher is live once a probe file shows up in the catalog (slow under load)."""
    probe = root / "probe.txt"
    for attempt in range(100):
        probe.write_text(str(attempt))
        await asyncio.sleep(0.1)
        with Catalogs(home) as catalogs:
            if catalogs.index.get("m", "probe.txt") is not None:
                break
    else:
        raise AssertionError("the watcher never started")
    probe.unlink()
    while True:
        with Catalogs(home) as catalogs:
            if catalogs.index.get("m", "probe.txt") is None:
                return
        await asyncio.sleep(0.05)


def _size(home: Path, path: str) -> int:
    with Catalogs(home) as catalogs:
        entry = catalogs.index.get("m", path)
    return entry.size if entry else -1
