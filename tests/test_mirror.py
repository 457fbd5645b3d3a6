"""Keeping a copy: mirrors that follow the owner's renames, deletes and duplicates, folder
downloads, short hashes, and a copy kept in sync while the owner serves."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from natster.catalog import Catalogs
from natster.client import remote
from natster.client.download import find_entry, folder_of
from natster.client.mirror import STATE_FILE, MirrorReport, keep_in_sync, mirror_pass
from natster.errors import EntryNotFound, NotShared

from .conftest import World, key, shared_and_imported


def _rescan(world: World) -> None:
    with Catalogs(world.alice.home.path) as mine:
        mine.rescan("films")


def _counts(report: MirrorReport) -> tuple[int, int, int, int, int]:
    return report.new, report.updated, report.renamed, report.deleted, report.unchanged


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != STATE_FILE
    }


async def test_renames_deletes_and_duplicates_cost_no_bytes(world: World, tmp_path: Path) -> None:
    big = os.urandom(300_000)
    (world.media / "film.mp4").write_bytes(big)
    (world.media / "gone.txt").write_text("old")
    ref = await shared_and_imported(world)
    _rescan(world)
    copy = tmp_path / "copy"
    mine = tmp_path / "mine.txt"  # a file of bob's own in the copy: never touched
    first = await mirror_pass(world.bob, ref, copy, delete=True)
    assert _counts(first) == (5, 0, 0, 0, 0)
    assert first.sent == sum(len(b) for b in _tree(world.media).values())
    copy.joinpath("mine.txt").write_text("bob's")
    assert _tree(copy) == {**_tree(world.media), "mine.txt": b"bob's"}

    # the owner renames the film, deletes a file, duplicates one, edits one
    (world.media / "film.mp4").rename(world.media / "trips" / "the film.mp4")
    (world.media / "gone.txt").unlink()
    (world.media / "again.mp3").write_bytes((world.media / "music.mp3").read_bytes())
    (world.media / "trips" / "notes.txt").write_text("day two")
    _rescan(world)
    second = await mirror_pass(world.bob, ref, copy, delete=True)
    assert _counts(second) == (1, 1, 1, 1, 2)  # again.mp3; notes; the film; gone.txt
    assert second.sent == len("day two")  # the rename and the duplicate cost nothing
    assert _tree(copy) == {**_tree(world.media), "mine.txt": b"bob's"}
    assert not mine.exists()

    third = await mirror_pass(world.bob, ref, copy, delete=True)
    assert (_counts(third), third.sent) == ((0, 0, 0, 0, 5), 0)

    # without --delete the owner's deletes stay here
    (world.media / "again.mp3").unlink()
    _rescan(world)
    kept = await mirror_pass(world.bob, ref, copy)
    assert (_counts(kept), kept.sent) == ((0, 0, 0, 0, 4), 0)
    assert (copy / "again.mp3").exists()


async def test_content_put_here_another_way_is_sent_again_unless_adopted(
    world: World, tmp_path: Path
) -> None:
    ref = await shared_and_imported(world)
    film = (world.media / "trips" / "lake.mp4").read_bytes()
    for adopt in (False, True):
        copy = tmp_path / f"copy-{adopt}"
        copy.mkdir()
        (copy / "old name.mp4").write_bytes(film)
        report = await mirror_pass(world.bob, ref, copy, delete=True, adopt=adopt)
        assert _counts(report) == (3, 0, 0, 0, 0)
        spared = len(film) if adopt else 0  # read here only when told to take files over
        assert report.sent == len("day one") + 103 + len(film) - spared
        assert (copy / "old name.mp4").exists()  # not the mirror's: kept, even with delete
        assert _tree(copy)["trips/lake.mp4"] == film


async def test_a_folder_and_short_hashes(world: World, tmp_path: Path) -> None:
    ref = await shared_and_imported(world)
    assert await folder_of(world.bob, ref, "trips/") == "trips/"
    assert await folder_of(world.bob, ref, "trips") == "trips/"
    assert await folder_of(world.bob, ref, "trips/notes.txt") is None
    with pytest.raises(EntryNotFound, match="no folder 'nowhere'"):
        await folder_of(world.bob, ref, "nowhere/")
    report = await mirror_pass(world.bob, ref, tmp_path / "trips", prefix="trips/")
    assert sorted(_tree(tmp_path / "trips")) == ["lake.mp4", "notes.txt"]
    assert report.new == 2

    notes = await find_entry(world.bob, ref, "trips/notes.txt")
    for short in (notes.hash[:12], notes.hash[:8]):
        assert (await find_entry(world.bob, ref, short)).path == "trips/notes.txt"
    with pytest.raises(EntryNotFound):
        await find_entry(world.bob, ref, notes.hash[:7])  # too short to be a hash


async def test_kept_in_sync_while_the_owner_serves_until_the_share_ends(
    world: World, tmp_path: Path
) -> None:
    ref = await shared_and_imported(world)
    copy = tmp_path / "copy"
    passes: list[MirrorReport] = []
    syncing = asyncio.create_task(
        keep_in_sync(world.bob, ref, copy, delete=True, after_pass=passes.append)
    )
    try:
        async with asyncio.timeout(10):
            while not passes:
                await asyncio.sleep(0.05)
        (world.media / "new.txt").write_text("fresh")  # the owner's server sees it
        (world.media / "music.mp3").unlink()
        async with asyncio.timeout(15):
            while not (copy / "new.txt").exists() or (copy / "music.mp3").exists():
                await asyncio.sleep(0.1)
        assert (copy / "new.txt").read_text() == "fresh"
        await remote.unshare(world.alice, "films", key(world.bob))
        with pytest.raises(NotShared, match="no longer shared with you"):
            async with asyncio.timeout(10):
                await syncing
    finally:
        syncing.cancel()
    assert (copy / "new.txt").exists()  # the copy stays as it is
