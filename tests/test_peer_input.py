"""Hypothesis on what a peer controls: a catalog server's answers and paths."""

from __future__ import annotations

import os
import re
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from natster import limits, wire
from natster.client import _target
from natster.client.download import default_target
from natster.errors import ProtocolError, UnsafePath
from natster.web._ranges import RangeNotSatisfiable, parse_range

PARTS = st.sampled_from(["..", ".", "", "a", "b c", "é", "\x00", "\x1b", "\\", "/", "x" * 256])
PATHS = st.one_of(st.text(max_size=300), st.lists(PARTS, max_size=6).map("/".join))


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=PATHS)
def test_a_peer_path_lands_inside_the_folder_or_nowhere(tmp_path: Path, path: str) -> None:
    root = tmp_path / "mirror"
    try:
        target = _target.inside(root, path)
    except UnsafePath:
        return
    resolved = Path(os.path.normpath(target))
    assert root in resolved.parents
    assert all(0 < len(p.encode()) <= 255 for p in target.relative_to(root).parts)


@settings(max_examples=300)
@given(path=PATHS, digest=st.text(string.hexdigits.lower()[:16], min_size=64, max_size=64))
def test_a_single_download_is_named_by_the_last_part_only(path: str, digest: str) -> None:
    try:
        row = wire.EntryRow(path=path, size=1, hash=digest, mime="x", description="")
    except ValueError:
        return
    target = default_target(row, None)
    assert len(target.parts) == 1
    assert target.name not in ("", ".", "..")
    part = _target.part_of(Path("/d") / target, digest)
    assert len(part.name.encode()) <= 255
    assert part.parent == Path("/d")


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
OPENED_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "transfer": st.one_of(st.just("a" * 32), JSONISH),
        "xkey": st.one_of(st.just("X" + "A" * 55), JSONISH),
        "size": st.one_of(st.integers(-5, 2**60), JSONISH),
        "chunk_size": st.one_of(st.integers(-5, 2**30), JSONISH),
        "chunks": st.one_of(st.integers(-5, 2**45), JSONISH),
        "path": st.one_of(PATHS, JSONISH),
    },
)


@settings(max_examples=500)
@given(data=st.one_of(OPENED_FIELDS, JSONISH))
def test_a_transfer_answer_is_sane_or_refused(data: object) -> None:
    try:
        opened = wire.parse_reply(data, wire.TransferOpened)
    except ProtocolError:
        return
    assert limits.MIN_CHUNK_SIZE <= opened.chunk_size <= limits.MAX_CHUNK_SIZE
    assert opened.size >= 0
    assert opened.chunks * opened.chunk_size >= opened.size
    assert opened.chunks == 0 or (opened.chunks - 1) * opened.chunk_size < opened.size


@settings(max_examples=300)
@given(data=st.one_of(JSONISH, st.fixed_dictionaries({"entries": st.lists(JSONISH, max_size=3)})))
def test_a_contents_page_is_sane_or_refused(data: object) -> None:
    try:
        page = wire.parse_reply(data, wire.ContentsPage)
    except ProtocolError:
        return
    for row in page.entries:
        assert _target.inside(Path("/m"), row.path).is_relative_to("/m")


def test_a_huge_range_number_is_not_an_error() -> None:
    assert parse_range("bytes=" + "9" * 5000 + "-", 100) is None  # not read: the whole file
    assert parse_range("bytes=0-" + "9" * 19, 100) is None
    assert parse_range("bytes=0-" + "9" * 18, 100) == parse_range("bytes=0-", 100)
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=" + "9" * 18 + "-", 100)


FOLDERS = st.sampled_from(["", "a", "a/b", "Été/x y"])


@given(folder=FOLDERS, rows=st.lists(PATHS, max_size=6), offset=st.integers(0, 10))
def test_a_folder_page_holds_only_what_is_directly_in_that_folder(
    folder: str, rows: list[str], offset: int
) -> None:
    """Whatever paths a catalog server puts in a folder page, what the client accepts is
    directly in the folder it asked for (a hostile server cannot move files around)."""
    from natster.client.browse import check_folder_page

    entries = [{"path": p, "size": 1, "hash": "0" * 64, "mime": "text/plain"} for p in rows]
    raw = {"folders": [], "entries": entries, "total": 0, "next": None, "revision": 1}
    try:
        page = wire.parse_reply(raw, wire.FolderPage, "a peer")
        checked = check_folder_page(page, folder, offset, "a peer")
    except ProtocolError:
        return
    prefix = f"{folder}/" if folder else ""
    for entry in checked.entries:
        assert entry.path.startswith(prefix)
        assert "/" not in entry.path[len(prefix) :]


@given(
    data=st.fixed_dictionaries(
        {},
        optional={
            "kind": st.one_of(st.sampled_from(["image", "video", "audio"]), st.text(max_size=8)),
            "width": st.one_of(st.integers(-5, 2_000_000), st.floats(), st.text(max_size=4)),
            "duration": st.one_of(st.floats(allow_nan=True), st.integers(-1, 10**9)),
            "video": st.text(max_size=40),
            "title": st.one_of(st.text(max_size=300), st.integers()),
            "taken": st.one_of(st.text(max_size=30), st.just("2019-08-14 18:30:05")),
            "track": st.one_of(st.integers(-5, 20_000), st.text(max_size=3)),
        },
    )
)
def test_media_facts_from_a_peer_are_bounded_or_refused(data: dict[str, object]) -> None:
    try:
        facts = wire.parse_reply(data, wire.MediaInfo, "a peer")
    except ProtocolError:
        return
    assert facts.kind in ("image", "video", "audio")
    assert facts.width is None or 1 <= facts.width <= 1_000_000
    assert facts.duration is None or 0 <= facts.duration <= 10**8
    assert facts.video is None or (facts.video.isascii() and len(facts.video) <= 32)
    # a tag is shown as text: printable, trimmed and short, or refused
    assert facts.title is None or (
        len(facts.title) <= limits.MAX_TAG_CHARS
        and facts.title == facts.title.strip()
        and not any(ord(c) < 32 or ord(c) == 127 for c in facts.title)
    )
    assert facts.taken is None or re.fullmatch(r"\d{4}-\d\d-\d\d( \d\d:\d\d:\d\d)?", facts.taken)
    assert facts.track is None or 1 <= facts.track <= 9999
