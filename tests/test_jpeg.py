"""A thumbnail's pixel size, read from a peer's bytes (natster._jpeg)."""

from __future__ import annotations

import io
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from natster._jpeg import dimensions, is_thumbnail
from natster.catalog.thumbs import Thumbnails


def _jpeg(width: int, height: int, **options: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(out, "JPEG", **options)
    return out.getvalue()


def test_the_size_is_read_from_the_frame_header() -> None:
    assert dimensions(_jpeg(320, 180)) == (320, 180)
    assert dimensions(_jpeg(7, 300, progressive=True)) == (7, 300)
    with_exif = _jpeg(40, 30, exif=Image.Exif().tobytes())
    assert dimensions(with_exif) == (40, 30)


def huge() -> bytes:
    """What a hostile server sends: a frame header claiming 65500 x 65500 pixels."""
    small = bytearray(_jpeg(8, 8))
    frames = (b"\xff\xc0", b"\xff\xc2")
    at = next(i for i in range(2, len(small)) if bytes(small[i : i + 2]) in frames)
    small[at + 5 : at + 9] = (65500).to_bytes(2, "big") * 2
    return bytes(small)


def test_a_huge_picture_in_a_small_file_says_so() -> None:
    assert len(huge()) < 1024
    assert dimensions(huge()) == (65500, 65500)
    assert not is_thumbnail(huge())


def test_a_thumbnail_is_a_small_jpeg_of_at_most_the_box() -> None:
    assert is_thumbnail(_jpeg(320, 180))
    assert is_thumbnail(_jpeg(1, 320))
    assert not is_thumbnail(_jpeg(321, 10))
    assert not is_thumbnail(_jpeg(10, 400))
    assert not is_thumbnail(b"\xff\xd8\xff" + bytes(100))


def test_the_cache_never_hands_out_a_picture_it_would_not_make(tmp_path: Path) -> None:
    """A file planted in the thumbnail cache (or a torn one) is made again, not served."""
    picture = tmp_path / "p.jpg"
    picture.write_bytes(_jpeg(2000, 1000))
    thumbs = Thumbnails(tmp_path / "home")
    digest = "ab" * 32
    made = thumbs.get(picture, digest, "image/jpeg")
    assert made is not None
    assert dimensions(made) == (320, 160)
    kept = tmp_path / "home" / "thumbs" / "ab" / f"{digest}.jpg"
    kept.write_bytes(huge())
    assert thumbs.get(picture, digest, "image/jpeg") == made
    assert kept.read_bytes() == made


def test_what_is_not_a_jpeg_has_no_size() -> None:
    for data in (b"", b"\xff\xd8", b"\x89PNG\r\n", b"\xff\xd8\xff\xda\x00\x02", b"\xff\xd8\x00"):
        assert dimensions(data) is None


@given(st.binary(max_size=200).map(lambda tail: b"\xff\xd8" + tail))
def test_any_bytes_a_peer_sends_end_in_a_size_or_none(data: bytes) -> None:
    found = dimensions(data)
    assert found is None or all(0 <= n <= 65535 for n in found)
