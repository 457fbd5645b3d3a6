"""The .part writer: O_DIRECT where it can, the page cache where it must, errors in words."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from natster.client import _part
from natster.errors import TransferError


async def write_all(path: Path, offset: int, pieces: list[bytes]) -> str:
    digest = hashlib.sha256()
    sink = _part.PartFile(path, offset, digest)
    try:
        for piece in pieces:
            buffer = _part.buffer(len(piece))
            buffer[: len(piece)] = piece
            await sink.write(memoryview(buffer)[: len(piece)])
        await sink.finish()
    finally:
        sink.close()
    return digest.hexdigest()


@pytest.mark.parametrize("direct", [True, False], ids=["o_direct", "page_cache"])
async def test_aligned_then_unaligned_chunks_land_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direct: bool
) -> None:
    if not direct:
        monkeypatch.setattr(_part, "_O_DIRECT", 0)
    path = tmp_path / "file.part"
    path.write_bytes(b"kept" * 1024)  # 4096 bytes already there: a resume
    pieces = [os.urandom(_part.ALIGN * 3), os.urandom(_part.ALIGN), os.urandom(123)]
    hexdigest = await write_all(path, _part.ALIGN, pieces)
    body = b"".join(pieces)
    assert path.read_bytes() == b"kept" * 1024 + body
    assert hexdigest == hashlib.sha256(body).hexdigest()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 3 * _part.ALIGN + 7), min_size=1, max_size=6))
async def test_any_lengths_write_what_was_given(lengths: list[int]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "any.part"
        path.write_bytes(b"")
        pieces = [os.urandom(n) for n in lengths]
        await write_all(path, 0, pieces)
        assert path.read_bytes() == b"".join(pieces)


async def test_a_full_disk_is_an_error_in_words() -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    with pytest.raises(TransferError, match="cannot write /dev/full: No space left"):
        await write_all(Path("/dev/full"), 0, [b"x" * _part.ALIGN])


async def test_a_part_file_that_cannot_be_opened_is_an_error_in_words(tmp_path: Path) -> None:
    with pytest.raises(TransferError, match=r"cannot write .*missing"):
        _part.PartFile(tmp_path / "missing" / "file.part", 0, hashlib.sha256())
