"""Where a single download goes when something is there already (no hub needed)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from natster import wire
from natster.client._target import free_name
from natster.client.download import settle_target
from natster.errors import TargetExists

CONTENT = b"the catalog's file"


def _entry(content: bytes = CONTENT) -> wire.EntryRow:
    return wire.EntryRow.model_validate(
        {
            "path": "film.mp4",
            "size": len(content),
            "hash": hashlib.sha256(content).hexdigest(),
            "mime": "video/mp4",
            "mtime": 0,
        }
    )


def test_a_free_path_is_taken_as_it_is(tmp_path: Path) -> None:
    assert settle_target(tmp_path / "film.mp4", _entry()) == tmp_path / "film.mp4"


def test_the_same_file_is_already_here(tmp_path: Path) -> None:
    (tmp_path / "film.mp4").write_bytes(CONTENT)
    assert settle_target(tmp_path / "film.mp4", _entry()) is None


@pytest.mark.parametrize("other", [b"something else, longer than it", b"same size, other!!"])
def test_a_different_file_is_refused_replaced_or_kept(tmp_path: Path, other: bytes) -> None:
    there = tmp_path / "film.mp4"
    there.write_bytes(other)
    with pytest.raises(TargetExists, match="--force replaces it, --rename keeps both"):
        settle_target(there, _entry())
    assert there.read_bytes() == other
    assert settle_target(there, _entry(), "replace") == there
    assert settle_target(there, _entry(), "rename") == tmp_path / "film (1).mp4"


def test_a_link_in_the_way_is_a_different_file(tmp_path: Path) -> None:
    (tmp_path / "real.mp4").write_bytes(CONTENT)  # even to the right content: never trusted
    (tmp_path / "film.mp4").symlink_to(tmp_path / "real.mp4")
    with pytest.raises(TargetExists):
        settle_target(tmp_path / "film.mp4", _entry())


@pytest.mark.parametrize(
    ("name", "taken", "expected"),
    [
        ("film.mp4", [], "film (1).mp4"),
        ("film.mp4", ["film (1).mp4"], "film (2).mp4"),
        ("notes", [], "notes (1)"),
        (".bashrc", [], ".bashrc (1)"),
        ("my.trip.jpg", [], "my.trip (1).jpg"),
        ("backup.tar.gz", [], "backup (1).tar.gz"),
    ],
)
def test_a_second_copy_is_named_as_a_browser_names_it(
    tmp_path: Path, name: str, taken: list[str], expected: str
) -> None:
    for other in [name, *taken]:
        (tmp_path / other).write_text("x")
    assert free_name(tmp_path / name) == tmp_path / expected
