"""Keys made from passphrases, and files of any size sealed with them.

A key comes from argon2id (PyNaCl, its "moderate" limits: half a second and 256 MiB
here, so each guess costs as much) over the passphrase and a random salt kept beside
what it seals. A whole file is sealed as a stream (libsodium's secretstream,
XChaCha20-Poly1305): chunks of ``CHUNK`` bytes, each authenticated, the last one marked
final, so a chunk changed, dropped, reordered or cut off at the end is refused, and
neither side ever holds the whole file in memory.

Sealed file: ``magic`` (the caller's), salt, the stream's header, then chunks, each
preceded by its length (4 bytes, big-endian).
"""

from __future__ import annotations

import secrets
import struct
from typing import BinaryIO

from nacl import bindings as sodium
from nacl import pwhash
from nacl.exceptions import CryptoError as SealBroken

from natster.errors import ConfigError, CryptoError

__all__ = [
    "MIN_PASSPHRASE",
    "SALT_BYTES",
    "SealingWriter",
    "check_passphrase",
    "key_from",
    "open_sealed",
]

MIN_PASSPHRASE = 10
SALT_BYTES = int(pwhash.argon2id.SALTBYTES)
KEY_BYTES = int(sodium.crypto_secretstream_xchacha20poly1305_KEYBYTES)
HEADER_BYTES = int(sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES)
OVERHEAD = int(sodium.crypto_secretstream_xchacha20poly1305_ABYTES)
CHUNK = 1 << 20
_LENGTH = struct.Struct(">I")
_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE


def check_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise ConfigError(f"a passphrase of {MIN_PASSPHRASE} characters at least, please")


def key_from(passphrase: str, salt: bytes, size: int = KEY_BYTES) -> bytes:
    """``size`` bytes of key from ``passphrase`` and ``salt`` (argon2id, moderate)."""
    key: bytes = pwhash.argon2id.kdf(
        size,
        passphrase.encode(),
        salt,
        opslimit=pwhash.argon2id.OPSLIMIT_MODERATE,
        memlimit=pwhash.argon2id.MEMLIMIT_MODERATE,
    )
    return key


class SealingWriter:
    """A file to write to (as ``tarfile`` and ``gzip`` do) that seals what it is given
    into ``out`` with a key from ``passphrase``; :meth:`finish` seals the last chunk."""

    def __init__(self, out: BinaryIO, passphrase: str, magic: bytes) -> None:
        check_passphrase(passphrase)
        salt = secrets.token_bytes(SALT_BYTES)
        self._state = sodium.crypto_secretstream_xchacha20poly1305_state()
        header = sodium.crypto_secretstream_xchacha20poly1305_init_push(
            self._state, key_from(passphrase, salt)
        )
        self._out = out
        self._out.write(magic + salt + header)
        self._pending = bytearray()

    def write(self, data: bytes) -> int:
        self._pending += data
        while len(self._pending) > CHUNK:  # the last chunk is kept for finish()
            self._push(bytes(self._pending[:CHUNK]), _MESSAGE)
            del self._pending[:CHUNK]
        return len(data)

    def flush(self) -> None:
        self._out.flush()

    def finish(self) -> None:
        self._push(bytes(self._pending), _FINAL)
        self._pending.clear()
        self._out.flush()

    def _push(self, chunk: bytes, tag: int) -> None:
        sealed = sodium.crypto_secretstream_xchacha20poly1305_push(self._state, chunk, None, tag)
        self._out.write(_LENGTH.pack(len(sealed)) + sealed)


def open_sealed(source: BinaryIO, out: BinaryIO, passphrase: str, magic: bytes) -> None:
    """Write what ``source`` (a file :class:`SealingWriter` wrote, after ``magic``, which
    the caller has checked) seals into ``out``; :class:`CryptoError` if the passphrase is
    not its own or it was changed or cut short."""
    salt = source.read(SALT_BYTES)
    header = source.read(HEADER_BYTES)
    if len(salt) != SALT_BYTES or len(header) != HEADER_BYTES:
        raise CryptoError("the sealed file is cut short")
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    try:
        sodium.crypto_secretstream_xchacha20poly1305_init_pull(
            state, header, key_from(passphrase, salt)
        )
    except SealBroken as exc:
        raise CryptoError("the sealed file's header is damaged") from exc
    first = True
    while True:
        length = source.read(_LENGTH.size)
        if len(length) != _LENGTH.size:
            raise CryptoError("the sealed file is cut short (its last part is missing)")
        (size,) = _LENGTH.unpack(length)
        if size > CHUNK + OVERHEAD:
            raise CryptoError("the sealed file is damaged (a part is too large)")
        sealed = source.read(size)
        if len(sealed) != size:
            raise CryptoError("the sealed file is cut short")
        try:
            chunk, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, sealed, None)
        except SealBroken as exc:  # not sealed with this key, or changed
            said = "that passphrase does not open it" if first else "it was changed"
            raise CryptoError(f"the sealed file cannot be opened: {said}") from exc
        first = False
        out.write(chunk)
        if tag == _FINAL:
            if source.read(1):
                raise CryptoError("the sealed file is damaged (more after its end)")
            return
