"""The media library on the wire: folders, search over everything, thumbnails, facts.

A real hub and real catalog servers; the attacks speak the wire protocol themselves.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Mapping
from pathlib import Path

import imageio_ffmpeg
import pytest
from PIL import Image

from natster import endpoints, subjects, wire
from natster.catalog import Catalogs
from natster.client import NatsterClient, browse, remote
from natster.errors import NotShared, RemoteError
from natster.security import XKey
from natster.services.catalog_service import CatalogServer

from .conftest import World, eventually, key, rogue_import, shared_and_imported

NAMES = ["Documents/a.txt", "Documents/Misc/recipes/pancakes.md", "Été/Été à la plage.jpg"]


def photo(path: Path, size: tuple[int, int], orientation: int = 1) -> None:
    """A real JPEG; ``orientation`` is its EXIF Orientation (6: shown turned right)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, (200, 80, 40))
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, "JPEG", exif=exif)


@pytest.fixture
def ffmpeg(monkeypatch: pytest.MonkeyPatch) -> str:
    """The ffmpeg of the imageio-ffmpeg wheel, as if installed (the server's probes use
    $NATSTER_FFMPEG, else the PATH)."""
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    monkeypatch.setenv("NATSTER_FFMPEG", exe)
    return str(exe)


async def add_catalog(world: World, name: str, files: dict[str, bytes]) -> CatalogServer:
    root = world.media.parent / name
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    with Catalogs(world.alice.home.path) as mine:
        mine.new(name, "", root)
    server = CatalogServer(world.alice, world.alice.home.path, [name])
    await server.start()
    return server


async def test_a_folder_lists_its_subfolders_then_its_files_sorted(world: World) -> None:
    for path in NAMES:
        (world.media / path).parent.mkdir(parents=True, exist_ok=True)
        (world.media / path).write_text(path * 3)
    with Catalogs(world.alice.home.path) as mine:
        mine.rescan("films")
    ref = await shared_and_imported(world)
    top = await browse.folder(world.bob, ref)
    assert [f.path for f in top.folders] == ["Documents", "trips", "Été"]
    assert [e.path for e in top.entries] == ["music.mp3"]
    assert top.total == 4
    assert top.next is None
    docs = top.folders[0]
    assert (docs.files, docs.bytes) == (2, len(NAMES[0]) * 3 + len(NAMES[1]) * 3)
    inside = await browse.folder(world.bob, ref, "Documents")
    assert [f.path for f in inside.folders] == ["Documents/Misc"]
    assert [e.path for e in inside.entries] == ["Documents/a.txt"]
    by_size = await browse.folder(world.bob, ref, "trips", sort="size", reverse=True)
    assert [e.path for e in by_size.entries] == ["trips/lake.mp4", "trips/notes.txt"]
    assert all(e.mtime for e in by_size.entries)
    paged = await browse.folder(world.bob, ref, limit=2)
    assert [f.path for f in paged.folders] == ["Documents", "trips"]
    assert paged.next == 2
    rest = await browse.folder(world.bob, ref, offset=2, limit=2)
    assert [f.path for f in rest.folders] == ["Été"]
    assert [e.path for e in rest.entries] == ["music.mp3"]
    assert rest.next is None


async def test_search_over_everything_folds_accents_and_reports_offline(world: World) -> None:
    alice, bob = world.alice, world.bob
    (world.media / "Été à la plage.txt").write_text("sea")
    with Catalogs(alice.home.path) as mine:
        mine.rescan("films")
    await shared_and_imported(world)
    other = await add_catalog(world, "songs", {"Ete/chanson d'été.mp3": b"ID3" + b"\0" * 64})
    await remote.share(alice, "songs", key(bob))
    await remote.import_catalog(bob, "songs", key(alice))
    found = await browse.search_everywhere(bob, "ETE")
    by_name = {c.catalog: c for c in found.catalogs}
    assert by_name["films"].state == "found"
    assert [e.path for e in by_name["films"].entries] == ["Été à la plage.txt"]
    assert [e.path for e in by_name["songs"].entries] == ["Ete/chanson d'été.mp3"]
    only_audio = await browse.search_everywhere(bob, "ete", kind="audio")
    assert [c.catalog for c in only_audio.catalogs if c.entries] == ["songs"]
    await other.stop()

    async def songs_offline() -> bool:  # the hub hears "offline" at once; the feed follows
        found = (await browse.search_everywhere(bob, "ete")).catalogs
        return {c.catalog: c for c in found}["songs"].state == "offline"

    await eventually(songs_offline, 5.0)
    later = {c.catalog: c for c in (await browse.search_everywhere(bob, "ete")).catalogs}
    assert later["songs"].state == "offline"
    assert later["films"].state == "found"


async def test_my_own_unserved_catalog_is_listed_and_searched_from_its_index(
    world: World, tmp_path: Path
) -> None:
    """No catalog server for "notes": its contents, folders and search come from the
    index on this machine (nothing waits for a server, nothing says "offline")."""
    alice = world.alice
    notes = tmp_path / "notes"
    (notes / "2026").mkdir(parents=True)
    (notes / "2026" / "voyage été.md").write_text("# trip")
    (notes / "todo.txt").write_text("milk")
    with Catalogs(alice.home.path) as mine:
        mine.new("notes", "", notes)
    ref = await remote.resolve(alice, "notes")
    assert await remote.answering(alice, ref) is None  # truly not served
    listed = [e.path for p in [await remote.page(alice, ref)] for e in p.entries]
    assert listed == ["2026/voyage été.md", "todo.txt"]
    top = await browse.folder(alice, ref)
    assert ([f.path for f in top.folders], [e.path for e in top.entries]) == (
        ["2026"],
        ["todo.txt"],
    )
    found = await remote.page(alice, ref, search="ETE")
    assert [e.path for e in found.entries] == ["2026/voyage été.md"]
    everywhere = {c.catalog: c for c in (await browse.search_everywhere(alice, "voyage")).catalogs}
    assert everywhere["notes"].state == "found"
    assert [e.path for e in everywhere["notes"].entries] == ["2026/voyage été.md"]
    with pytest.raises(RemoteError, match="search needs some text"):  # checked as served
        await remote.ask(alice, ref, endpoints.SEARCH, wire.ContentsRequest(text=" "))


async def test_thumbnails_are_small_turned_and_sealed(world: World, tmp_path: Path) -> None:
    photo(world.media / "pics" / "tall.jpg", (1200, 800), orientation=6)
    Image.new("RGBA", (50, 40), (0, 0, 0, 0)).save(world.media / "pics" / "clear.png")
    with Catalogs(world.alice.home.path) as mine:
        mine.rescan("films")
        tall = mine.find("films", "pics/tall.jpg")[0].hash
        notes = mine.find("films", "trips/notes.txt")[0].hash
    ref = await shared_and_imported(world)
    jpeg = await browse.thumbnail(world.bob, ref, tall)
    with Image.open(io.BytesIO(jpeg)) as small:
        assert small.format == "JPEG"
        assert small.size == (213, 320)  # turned upright, then fitted in 320 px
    cached = sorted(p.name for p in (world.alice.home.path / "thumbs").glob("*/*"))
    assert cached == [f"{tall}.jpg"]
    assert await browse.thumbnail(world.bob, ref, tall) == jpeg  # from the cache
    with pytest.raises(Exception, match="has no picture"):
        await browse.thumbnail(world.bob, ref, notes)


@pytest.mark.heavy
async def test_media_facts_arrive_after_the_scan(world: World, ffmpeg: str) -> None:
    from scripts.media import make_media

    make_media(world.media / "real", seconds=2)
    photo(world.media / "pics" / "tall.jpg", (1200, 800), orientation=6)
    with Catalogs(world.alice.home.path) as mine:
        mine.rescan("films")
    world.server._facts_due["films"].set()
    ref = await shared_and_imported(world)
    film = "real/videos/test-pattern.mp4"
    for _ in range(100):
        rows = {e.path: e for e in (await remote.page(world.bob, ref)).entries}
        listed = {e.path: e for e in (await browse.folder(world.bob, ref, "real/videos")).entries}
        facts = listed[film].media
        if facts and facts.duration and listed["real/videos/hevc-sample.mkv"].media:
            break
        await asyncio.sleep(0.1)
    assert facts is not None
    assert (facts.kind, facts.width, facts.height, facts.video) == ("video", 640, 360, "h264")
    assert facts.audio == "aac"
    assert 1.5 < (facts.duration or 0) < 2.5
    pics = await browse.folder(world.bob, ref, "pics")
    tall = pics.entries[0].media
    assert tall is not None
    assert (tall.kind, tall.width, tall.height) == ("image", 800, 1200)
    hevc = listed["real/videos/hevc-sample.mkv"].media
    assert hevc is not None
    assert (hevc.video, hevc.width, hevc.height) == ("hevc", 320, 180)
    assert rows[film].media is None  # contents carry no facts: folders and search do

    async def song_facts() -> wire.MediaInfo | None:
        return (await browse.folder(world.bob, ref, "real/music")).entries[0].media

    async def tagged() -> bool:
        pictures = await browse.folder(world.bob, ref, "real/pictures")
        taken = [e.media.taken for e in pictures.entries if e.media]
        return bool((facts := await song_facts()) and facts.title and any(taken))

    await eventually(tagged, 10, "the song's tags")
    song = await song_facts()
    assert song is not None
    assert (song.title, song.artist, song.album, song.track, song.year) == (
        "A Note",
        "The Sines",
        "Test Tones",
        1,
        2021,
    )
    sea = {e.path: e for e in (await browse.folder(world.bob, ref, "real/pictures")).entries}
    shot = sea["real/pictures/sea.jpg"].media
    assert shot is not None
    assert (shot.taken, shot.camera) == ("2019-08-14 18:30:05", "FUJIFILM X-T30")
    for words, found in [
        ("sines", "real/music/a-note.mp3"),  # the artist, case aside
        ("test tones 2021", "real/music/a-note.mp3"),  # album and year
        ("2019-08", "real/pictures/sea.jpg"),  # when it was taken
        ("fujifilm", "real/pictures/sea.jpg"),
    ]:
        hits = [e.path for e in (await remote.page(world.bob, ref, search=words)).entries]
        assert hits == [found], words
    frame = await browse.thumbnail(world.bob, ref, listed[film].hash)
    with Image.open(io.BytesIO(frame)) as small:
        assert small.size == (320, 180)


async def _raw(
    client: NatsterClient, subject: str, body: Mapping[str, object]
) -> dict[str, object]:
    msg = await client.connection.request(subject, json.dumps(body).encode(), timeout=5)
    reply: dict[str, object] = json.loads(msg.data)
    return reply


async def test_a_stranger_with_a_route_gets_no_thumbnail_or_folder(world: World) -> None:
    """carol has a route to alice's films (a rogue hub gave it) but no share: the server
    refuses her thumbnail and folder requests as it refuses her chunks."""
    photo(world.media / "pics" / "secret.jpg", (64, 64))
    with Catalogs(world.alice.home.path) as mine:
        mine.rescan("films")
        secret = mine.find("films", "pics/secret.jpg")[0].hash
    await remote.share(world.alice, "films", key(world.bob))
    await rogue_import(world, world.carol, "films")
    asker = XKey.create()
    asked = {"hash": secret, "xkey": asker.public_key}
    thumb = await _raw(world.carol, subjects.remote_local("films", "thumbnail"), asked)
    assert (thumb["code"], thumb.get("data")) == (403, None)
    listed = await _raw(world.carol, subjects.remote_local("films", "folder"), {})
    assert (listed["code"], listed.get("data")) == (403, None)
    ref = remote.CatalogRef(key(world.alice), "films", "films", local=False)
    with pytest.raises(NotShared):
        await browse.thumbnail(world.carol, ref, secret)


async def test_bad_requests_are_refused_in_words(world: World) -> None:
    subject = subjects.catalog_local(key(world.alice), "films", "folder")
    cases: list[tuple[dict[str, object], str]] = [
        ({"path": "../etc"}, "'.' or '..'"),
        ({"sort": "evil"}, "sort"),
        ({"offset": -1}, "offset"),
        ({"limit": 10**6}, "limit"),
    ]
    for body, words in cases:
        reply = await _raw(world.alice, subject, body)
        assert reply["code"] == 400, reply
        assert words in str(reply["error"]), reply
    search = subjects.catalog_local(key(world.alice), "films", "search")
    reply = await _raw(world.alice, search, {"text": " ".join("w" * 9)})
    assert reply["code"] == 400
    assert "at most 8 words" in str(reply["error"])
    reply = await _raw(world.alice, search, {"text": "x", "kind": "secret"})
    assert reply["code"] == 400


def test_a_thumbnail_reply_is_checked() -> None:
    with pytest.raises(ValueError, match="pattern"):
        wire.Thumbnail.model_validate({"xkey": XKey.create().public_key, "data": "<script>"})
