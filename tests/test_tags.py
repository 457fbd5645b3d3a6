"""Tags read from anyone's files: a song's, a camera's. What is kept is printable,
bounded, and the same in Python and in the browser; an index made before tags gains
them (songs and pictures are read again)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from natster import limits, names
from natster.catalog import Catalogs
from natster.catalog import facts as facts_module
from natster.catalog.facts import Facts, tag_text
from natster.catalog.index import SCHEMA_VERSION, Index
from natster.catalog.media import facts_of, missing, record


@given(st.one_of(st.text(max_size=400), st.binary(max_size=400), st.integers(), st.none()))
def test_a_tag_is_printable_and_bounded_or_nothing(value: object) -> None:
    kept = tag_text(value)
    if kept is None:
        return
    assert kept.isprintable()
    assert kept == kept.strip()
    assert len(kept.encode("utf-16-le")) <= 2 * limits.MAX_TAG_CHARS  # as a browser counts
    assert re.match(names.TAG_PATTERN, kept)  # what the wire and the browser accept


def test_exif_times_and_cameras() -> None:
    exif_time = facts_module._exif_time
    assert exif_time("2019:08:14 18:30:05") == "2019-08-14 18:30:05"
    assert exif_time("2019:08:14") == "2019-08-14"
    assert exif_time("2019:08:14 18:30") == "2019-08-14 18:30:00"
    for nonsense in ("0000:00:00 00:00:00", "    :  :     :  :  ", "2019:13:01", b"2019", None):
        assert exif_time(nonsense) is None
    camera = facts_module._camera
    assert camera("Canon", "Canon EOS R6") == "Canon EOS R6"
    assert camera("FUJIFILM", "X-T30") == "FUJIFILM X-T30"
    assert camera(None, "Pixel 7") == "Pixel 7"
    assert camera("\x00\x00", None) is None


def test_search_text_holds_the_tags() -> None:
    song = Facts("audio", title="Été", artist="Zaz", album="Paris", year=2014)
    assert song.searchable() == "ete zaz paris 2014"
    photo = Facts("image", taken="2019-08-14 18:30:05", camera="FUJIFILM X-T30")
    assert photo.searchable() == "fujifilm x-t30 2019-08-14 18:30:05"


def test_an_index_made_before_tags_gains_them(tmp_path: Path) -> None:
    """A version-2 index (no tag columns): opened, it has them, and its songs and
    pictures are due for facts again; films keep theirs."""
    with Catalogs(tmp_path) as catalogs:
        media = tmp_path / "m"
        media.mkdir()
        (media / "song.mp3").write_bytes(b"ID3" + b"\0" * 64)
        (media / "film.mp4").write_bytes(b"\0\0\0\x18ftypmp42" + b"\0" * 64)
        catalogs.new("c", "", media)
        index_path = catalogs.index.path
    db = sqlite3.connect(index_path)
    by_path = dict(db.execute("SELECT path, hash FROM entries").fetchall())
    db.executescript(
        "DROP TABLE media;"
        "CREATE TABLE media (hash TEXT PRIMARY KEY, kind TEXT NOT NULL, width INTEGER,"
        " height INTEGER, duration REAL, video TEXT, audio TEXT) WITHOUT ROWID;"
        "PRAGMA user_version = 2;"
    )
    db.executemany(
        "INSERT INTO media VALUES (?, ?, NULL, NULL, 3.0, ?, ?)",
        [(by_path["song.mp3"], "audio", None, "mp3"), (by_path["film.mp4"], "video", "h264", None)],
    )
    db.commit()
    db.close()
    index = Index(index_path)
    try:
        assert index.query("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert [p for p, _, _ in missing(index, "c", 10)] == ["song.mp3"]  # read again
        film = facts_of(index, by_path["film.mp4"])
        assert film is not None
        assert (film.video, film.title) == ("h264", None)
        record(index, [(by_path["song.mp3"], Facts("audio", title="A Note", track=1))])
        song = facts_of(index, by_path["song.mp3"])
        assert song is not None
        assert (song.title, song.track) == ("A Note", 1)
    finally:
        index.close()


def test_facts_go_on_the_wire_as_they_are_or_only_the_kind_when_out_of_bounds() -> None:
    """What a catalog server sends of a file's facts: every one, or, where a broken
    file's header gave one out of bounds, the kind alone (never a refused answer)."""
    from natster.catalog.browse import Listed
    from natster.catalog.index import Entry
    from natster.services.browsing import entry_row

    entry = Entry("song.mp3", 1, 0, "a" * 64, "audio/mpeg")
    song = Facts("audio", duration=3.5, audio="mp3", title="Été", artist="A", track=2, year=1999)
    media = entry_row(Listed(entry, song)).media
    assert media is not None
    assert media.model_dump(exclude_none=True) == {
        "kind": "audio",
        "duration": 3.5,
        "audio": "mp3",
        "title": "Été",
        "artist": "A",
        "track": 2,
        "year": 1999,
    }
    broken = entry_row(Listed(entry, Facts("audio", duration=3.5, year=20_000))).media
    assert broken is not None
    assert broken.model_dump(exclude_none=True) == {"kind": "audio"}
    assert entry_row(Listed(entry, None)).media is None
