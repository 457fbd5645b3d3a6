"""xkeys: curve25519 keys and the ``xkv1`` seal format of the Go ``nkeys`` library.

A sealed message is ``b"xkv1" + nonce (24 bytes) + NaCl box`` (XSalsa20-Poly1305), so
anything sealed here opens with Go's ``kp.Open`` and the reverse. For a stream of
messages between the same two keys, :class:`Channel` does the key exchange once.
"""

from __future__ import annotations

import hashlib
import mmap
import os
from dataclasses import dataclass, field

import nacl.bindings
import nacl.exceptions
import nacl.public
from nacl._sodium import ffi as _ffi  # type: ignore[import-not-found]  # PyNaCl's cffi
from nacl._sodium import lib as _lib

from natster.errors import CryptoError, InvalidKey

from ._codec import KeyKind, decode_public, decode_seed, encode_public, encode_seed

VERSION = b"xkv1"
NONCE_SIZE = nacl.bindings.crypto_box_NONCEBYTES  # 24
OVERHEAD = len(VERSION) + NONCE_SIZE + 16  # Poly1305 tag
Writable = bytearray | memoryview | mmap.mmap  # what open_into can write to


@dataclass(frozen=True)
class XKey:
    """A curve25519 key pair. ``repr`` never shows the seed."""

    seed: str = field(repr=False)
    public_key: str

    @classmethod
    def create(cls) -> XKey:
        return cls.from_raw(os.urandom(32))

    @classmethod
    def from_raw(cls, raw: bytes) -> XKey:
        """The xkey of a 32-byte curve25519 private key (e.g. one derived from a secret)."""
        if len(raw) != 32:
            raise InvalidKey("a curve25519 key is 32 bytes")
        return cls.from_seed(encode_seed(KeyKind.CURVE, raw))

    @classmethod
    def from_seed(cls, seed: str) -> XKey:
        seed = seed.strip()
        kind, raw = decode_seed(seed)
        if kind is not KeyKind.CURVE:
            raise InvalidKey("that is not an xkey seed (SX...)")
        public = bytes(nacl.public.PrivateKey(raw).public_key)
        return cls(seed=seed, public_key=encode_public(KeyKind.CURVE, public))

    def _private(self) -> nacl.public.PrivateKey:
        return nacl.public.PrivateKey(decode_seed(self.seed)[1])

    def channel(self, peer_public_key: str) -> Channel:
        """A sealing channel to ``peer_public_key`` (one key exchange for all messages)."""
        return Channel(nacl.public.Box(self._private(), public_key_of(peer_public_key)))

    def seal(self, data: bytes, recipient_public_key: str) -> bytes:
        return self.channel(recipient_public_key).seal(data)

    def open(self, sealed: bytes, sender_public_key: str) -> bytes:
        return self.channel(sender_public_key).open(sealed)


def public_key_of(text: str) -> nacl.public.PublicKey:
    return nacl.public.PublicKey(decode_public(text, KeyKind.CURVE)[1])


class Channel:
    """Seals and opens ``xkv1`` messages with a precomputed shared key."""

    __slots__ = ("_shared",)

    def __init__(self, box: nacl.public.Box) -> None:
        self._shared = box.shared_key()

    def seal(self, data: bytes, nonce: bytes | None = None, aad: bytes = b"") -> bytes:
        """Seal ``data``. ``aad`` (associated data) is authenticated but not sent.

        Go's format has no associated data; with ``aad`` empty the output is exactly
        Go's. A non-empty ``aad`` is bound by sealing ``aad`` ahead of ``data`` and
        sending only the part after it, which stays a valid box for the same
        plaintext only when the receiver supplies the same ``aad``.
        """
        nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
        if len(nonce) != NONCE_SIZE:
            raise CryptoError("a nonce is 24 bytes")
        if aad:
            nonce = _bind(nonce, aad)
        box = nacl.bindings.crypto_box_easy_afternm(data, nonce, self._shared)
        return VERSION + nonce + box

    def open(self, sealed: bytes | bytearray, aad: bytes = b"") -> bytes:
        sealed = bytes(sealed)  # PyNaCl takes bytes only; a large NATS payload is a bytearray
        if len(sealed) < OVERHEAD or sealed[: len(VERSION)] != VERSION:
            raise CryptoError("that is not an xkv1 sealed message")
        nonce = sealed[len(VERSION) : len(VERSION) + NONCE_SIZE]
        if aad and nonce != _bind(nonce, aad):
            raise CryptoError()
        try:
            return nacl.bindings.crypto_box_open_easy_afternm(
                sealed[len(VERSION) + NONCE_SIZE :], nonce, self._shared
            )
        except (nacl.exceptions.CryptoError, ValueError) as exc:
            raise CryptoError() from exc

    def seal_in_place(self, buffer: bytearray, aad: bytes = b"") -> bytearray:
        """Seal the plaintext at ``buffer[OVERHEAD:]``, in the buffer itself.

        The first ``OVERHEAD`` bytes are room for the header and tag: a reader can fill
        the rest straight from a file, and the sealed message is ``buffer`` (the same
        bytes :meth:`seal` gives) with no copy of a large chunk.
        """
        if len(buffer) < OVERHEAD:
            raise CryptoError("a buffer to seal in place starts with room for the header")
        nonce = os.urandom(NONCE_SIZE)
        if aad:
            nonce = _bind(nonce, aad)
        buffer[: len(VERSION) + NONCE_SIZE] = VERSION + nonce
        start = _ffi.from_buffer(buffer, require_writable=True)
        result = _lib.crypto_box_easy_afternm(
            start + len(VERSION) + NONCE_SIZE,
            start + OVERHEAD,
            len(buffer) - OVERHEAD,
            nonce,
            self._shared,
        )
        if result != 0:
            raise CryptoError("sealing failed")
        return buffer

    def open_into(self, sealed: bytes | bytearray, out: Writable, aad: bytes = b"") -> int:
        """Open ``sealed`` into ``out`` without copies; returns the plaintext's length.

        For large messages (transfer chunks): no slicing of ``sealed`` and no fresh
        buffer per message. libsodium runs without the GIL, so threads can share it.
        """
        if len(sealed) < OVERHEAD or sealed[: len(VERSION)] != VERSION:
            raise CryptoError("that is not an xkv1 sealed message")
        nonce = bytes(sealed[len(VERSION) : len(VERSION) + NONCE_SIZE])  # sealed: any bytes-like
        if aad and nonce != _bind(nonce, aad):
            raise CryptoError()
        length = len(sealed) - OVERHEAD
        if len(out) < length:
            raise CryptoError("the message is larger than its buffer")
        source = _ffi.from_buffer(sealed)
        result = _lib.crypto_box_open_easy_afternm(
            _ffi.from_buffer(out, require_writable=True),
            source + len(VERSION) + NONCE_SIZE,
            length + 16,
            nonce,
            self._shared,
        )
        if result != 0:
            raise CryptoError()
        return length


def _bind(nonce: bytes, aad: bytes) -> bytes:
    """A nonce whose tail is derived from ``aad`` (the head stays random)."""
    return nonce[:8] + hashlib.blake2b(aad, digest_size=16, key=nonce[:8]).digest()
