"""Keys, JWTs and credentials: the lowest layer, with no knowledge of NATS connections."""

from ._codec import KeyKind, decode_public, is_public_key
from .creds import Creds, parse_creds
from .keys import KeyPair, verify
from .xkeys import Channel, XKey

__all__ = [
    "Channel",
    "Creds",
    "KeyKind",
    "KeyPair",
    "XKey",
    "decode_public",
    "is_public_key",
    "parse_creds",
    "verify",
]
