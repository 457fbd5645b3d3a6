"""The nkeys text encoding: a prefix byte, the raw key, a CRC16 (little-endian), base32.

This is the encoding of the Go ``nkeys`` library, written out here because the Python
``nkeys`` package has no curve (xkey) prefix and no public-key decoder.
"""

from __future__ import annotations

import base64
import binascii
import enum

from natster.errors import InvalidKey

PREFIX_SEED = 18 << 3  # "S"


class KeyKind(enum.IntEnum):
    """The role a key plays, as its prefix byte."""

    OPERATOR = 14 << 3  # "O"
    ACCOUNT = 0  # "A"
    USER = 20 << 3  # "U"
    SERVER = 13 << 3  # "N"
    CLUSTER = 2 << 3  # "C"
    CURVE = 23 << 3  # "X" (xkeys)

    @property
    def letter(self) -> str:
        return "OAUNCX"[list(KeyKind).index(self)]


def crc16(data: bytes) -> int:
    """CRC-16/XMODEM, as used by nkeys (binascii's CRC-CCITT from 0: the same, in C;
    a bit-by-bit loop here took ~45 us a key, and every JWT and key is checked)."""
    return binascii.crc_hqx(data, 0)


def _b32encode(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def _b32decode(text: str) -> bytes:
    if not text.isascii() or not text.isalnum() or text != text.upper():
        raise InvalidKey("a key has only upper-case letters and digits")
    try:
        return base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError) as exc:
        raise InvalidKey("that key is not valid base32") from exc


def _checked(raw: bytes) -> bytes:
    if len(raw) < 3:
        raise InvalidKey("that key is too short")
    body, crc = raw[:-2], int.from_bytes(raw[-2:], "little")
    if crc16(body) != crc:
        raise InvalidKey("that key's checksum does not match (a typo?)")
    return body


def encode_public(kind: KeyKind, raw: bytes) -> str:
    if len(raw) != 32:
        raise InvalidKey("a public key is 32 bytes")
    body = bytes([kind]) + raw
    return _b32encode(body + crc16(body).to_bytes(2, "little"))


def decode_public(text: str, kind: KeyKind | None = None) -> tuple[KeyKind, bytes]:
    """Decode a public key; with ``kind``, refuse any other role."""
    body = _checked(_b32decode(text))
    if len(body) != 33:
        raise InvalidKey("that is not a public key")
    try:
        found = KeyKind(body[0])
    except ValueError as exc:
        raise InvalidKey("that key has an unknown prefix") from exc
    if kind is not None and found is not kind:
        raise InvalidKey(f"expected {kind.name.lower()} key (starting with {kind.letter})")
    return found, body[1:]


def encode_seed(kind: KeyKind, raw: bytes) -> str:
    if len(raw) != 32:
        raise InvalidKey("a seed is 32 bytes")
    body = bytes([PREFIX_SEED | kind >> 5, (kind & 31) << 3]) + raw
    return _b32encode(body + crc16(body).to_bytes(2, "little"))


def decode_seed(text: str) -> tuple[KeyKind, bytes]:
    body = _checked(_b32decode(text))
    if len(body) != 34 or body[0] & 0xF8 != PREFIX_SEED:
        raise InvalidKey("that is not a seed")
    prefix = (body[0] & 7) << 5 | (body[1] & 0xF8) >> 3
    try:
        return KeyKind(prefix), body[2:]
    except ValueError as exc:
        raise InvalidKey("that seed has an unknown prefix") from exc


def is_public_key(text: object, kind: KeyKind) -> bool:
    """True when ``text`` is a well-formed public key of that role."""
    if not isinstance(text, str) or len(text) != 56:
        return False
    try:
        decode_public(text, kind)
    except InvalidKey:
        return False
    return True
