"""A JPEG's pixel size, read from its header without decoding it.

A thumbnail comes from a peer: its bytes are checked before anything shows them (a
picture of 65500 x 65500 pixels fits in 64 KiB and makes a browser allocate 16 GB).
The size is in the frame header (a SOF marker segment), found by walking the marker
segments from the start; nothing past it is read.
"""

from __future__ import annotations

from natster import limits

_SOI = b"\xff\xd8"
# start-of-frame markers: C0-CF, except C4 (Huffman tables), C8 (reserved), CC (arithmetic)
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # markers with no length after them


def dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) of the JPEG in ``data``, or None if it is not one that says."""
    if not data.startswith(_SOI):
        return None
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill bytes before a marker
            at += 1
            continue
        if marker in _STANDALONE:
            at += 2
            continue
        if marker in (0xD9, 0xDA):  # the end, or the scan: no frame header before it
            return None
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if length < 2:
            return None
        if marker in _SOF:
            if length < 7 or at + 9 > len(data):
                return None
            height = int.from_bytes(data[at + 5 : at + 7], "big")
            width = int.from_bytes(data[at + 7 : at + 9], "big")
            return width, height
        at += 2 + length
    return None


def is_thumbnail(data: bytes) -> bool:
    """Whether ``data`` is a JPEG natster may show as a thumbnail: at most
    THUMB_MAX_BYTES, saying its size, at most THUMB_BOX pixels a side."""
    if len(data) > limits.THUMB_MAX_BYTES:
        return False
    size = dimensions(data)
    return size is not None and all(1 <= side <= limits.THUMB_BOX for side in size)
