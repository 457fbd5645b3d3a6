"""Files sealed with a passphrase (hub backups): what opens, and every way of tampering
with one that must not (written as the attacker: bytes changed, parts dropped, swapped,
cut off or added, and the wrong passphrase)."""

from __future__ import annotations

import io
import os
import struct

import pytest

from natster.errors import ConfigError, CryptoError
from natster.security import passphrase as sealing
from natster.security.passphrase import CHUNK, SealingWriter, open_sealed

MAGIC = b"test-sealed\n"
WORDS = "correct horse battery"
DATA = os.urandom(3 * CHUNK + 12345)  # four parts, the last one short


@pytest.fixture(autouse=True)
def quick_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stream is what is attacked here: a fast stand-in for argon2id (which
    test_a_real_passphrase_round_trip uses)."""
    import hashlib

    def key_from(words: str, salt: bytes, size: int = sealing.KEY_BYTES) -> bytes:
        return hashlib.blake2b(words.encode(), key=salt, digest_size=size).digest()

    monkeypatch.setattr(sealing, "key_from", key_from)


def _sealed(data: bytes = DATA, words: str = WORDS) -> bytes:
    out = io.BytesIO()
    writer = SealingWriter(out, words, MAGIC)
    for start in range(0, len(data), 100_000):  # written in pieces, as gzip does
        writer.write(data[start : start + 100_000])
    writer.finish()
    return out.getvalue()


def _open(sealed: bytes, words: str = WORDS) -> bytes:
    source = io.BytesIO(sealed)
    assert source.read(len(MAGIC)) == MAGIC
    out = io.BytesIO()
    open_sealed(source, out, words, MAGIC)
    return out.getvalue()


def _parts(sealed: bytes) -> tuple[bytes, list[bytes]]:
    """The head (magic, salt, header) and each part with its length."""
    at = len(MAGIC) + sealing.SALT_BYTES + sealing.HEADER_BYTES
    head, parts = sealed[:at], []
    while at < len(sealed):
        (size,) = struct.unpack(">I", sealed[at : at + 4])
        parts.append(sealed[at : at + 4 + size])
        at += 4 + size
    return head, parts


def test_what_is_sealed_opens_as_it_was() -> None:
    sealed = _sealed()
    assert DATA[:1000] not in sealed
    assert _open(sealed) == DATA
    assert _open(_sealed(b"")) == b""  # nothing at all: one final, empty part


def test_the_wrong_passphrase_opens_nothing() -> None:
    with pytest.raises(CryptoError, match="that passphrase does not open it"):
        _open(_sealed(), "not the right words")


@pytest.mark.parametrize(
    "attack",
    ["flip a byte", "drop the last part", "drop a middle part", "swap two parts", "add a part"],
)
def test_a_changed_file_is_refused(attack: str) -> None:
    head, parts = _parts(_sealed())
    assert len(parts) == 4
    if attack == "flip a byte":
        middle = bytearray(parts[1])
        middle[100] ^= 1
        parts[1] = bytes(middle)
    elif attack == "drop the last part":
        parts.pop()
    elif attack == "drop a middle part":
        parts.pop(1)
    elif attack == "swap two parts":
        parts[0], parts[1] = parts[1], parts[0]
    else:
        parts.append(parts[0])
    with pytest.raises(CryptoError):
        _open(head + b"".join(parts))


def test_a_file_cut_anywhere_is_refused() -> None:
    sealed = _sealed(os.urandom(CHUNK + 10))
    for cut in (len(MAGIC) + 3, len(MAGIC) + 40, len(sealed) // 2, len(sealed) - 1):
        with pytest.raises(CryptoError, match=r"cut short|cannot be opened"):
            _open(sealed[:cut])


def test_a_part_claiming_to_be_huge_is_refused_before_it_is_read() -> None:
    head, _ = _parts(_sealed())
    with pytest.raises(CryptoError, match="too large"):
        _open(head + struct.pack(">I", 2**31) + b"x" * 10)


def test_a_short_passphrase_is_refused() -> None:
    with pytest.raises(ConfigError, match="10 characters"):
        SealingWriter(io.BytesIO(), "short", MAGIC)


def test_a_real_passphrase_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # argon2id itself
    assert _open(_sealed(b"hello" * 1000)) == b"hello" * 1000
