"""ed25519 nkeys (operator, account, user) via the ``nkeys`` package."""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field

import nacl.exceptions
import nacl.signing
import nkeys

from natster.errors import InvalidKey

from ._codec import KeyKind, decode_public, decode_seed, encode_public


@dataclass(frozen=True)
class KeyPair:
    """A signing key pair. ``repr`` never shows the seed."""

    seed: str = field(repr=False)
    kind: KeyKind
    public_key: str

    @classmethod
    def create(cls, kind: KeyKind) -> KeyPair:
        if kind is KeyKind.CURVE:
            raise InvalidKey("curve keys are xkeys: use natster.security.xkeys")
        return cls.from_raw(kind, os.urandom(32))

    @classmethod
    def from_raw(cls, kind: KeyKind, raw: bytes) -> KeyPair:
        """The key pair of a 32-byte ed25519 seed (e.g. one derived from another secret)."""
        if kind is KeyKind.CURVE:
            raise InvalidKey("curve keys are xkeys: use natster.security.xkeys")
        if len(raw) != 32:
            raise InvalidKey("an ed25519 seed is 32 bytes")
        return cls.from_seed(nkeys.encode_seed(raw, int(kind)).decode("ascii"))

    @classmethod
    def from_seed(cls, seed: str) -> KeyPair:
        seed = seed.strip()
        kind, raw = decode_seed(seed)
        if kind is KeyKind.CURVE:
            raise InvalidKey("that is an xkey seed, not a signing key seed")
        public = encode_public(kind, bytes(nacl.signing.SigningKey(raw).verify_key))
        return cls(seed=seed, kind=kind, public_key=public)

    def derive(self, label: str) -> bytes:
        """32 bytes derived from this key's seed for ``label`` (HMAC-SHA256): a secret
        anyone holding this key can make again, and nobody else."""
        _, raw = decode_seed(self.seed)
        return hmac.new(raw, f"natster {label}".encode(), hashlib.sha256).digest()

    def sign(self, data: bytes) -> bytes:
        signature: bytes = nkeys.from_seed(self.seed.encode("ascii")).sign(data)
        return signature


def verify(public_key: str, data: bytes, signature: bytes) -> bool:
    """True when ``signature`` is ``public_key``'s ed25519 signature of ``data``."""
    kind, raw = decode_public(public_key)
    if kind is KeyKind.CURVE:
        return False
    try:
        nacl.signing.VerifyKey(raw).verify(data, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True
