"""Short invites: a few words, the hub's address and the start of its CA's pin.

``plunge-ribbon-acid-wisdom@hub.example.org/3f9a0c1e22b7d4e5f610`` reads aloud and fits
a chat message. The words are the secret (their sha256 is the invite's key in the hub's
invites bucket, as a long invite's token is); the address says where to redeem them
(``:4222`` is left out); the hex after ``/`` is the start of the sha256 of the CA the
hub's certificate chains to, checked before anything is sent (none: a plain-TCP hub).
The words come from BIP-39's English list (the ``mnemonic`` package): 2,048 common
words, each told apart by its first four letters, so those four are enough to type.

Holding the words buys no credentials by itself: they are redeemed at the hub's
doorstep (``hub/entry/doorstep.py``), which answers NATS's auth callout.
"""

from __future__ import annotations

import difflib
import functools
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

from natster import limits
from natster._urls import split_urls
from natster.errors import InviteError

DEFAULT_PORT = 4222
_SEPARATORS = re.compile(r"[\s\-_.,]+")
_PIN = re.compile(rf"^[0-9a-f]{{{limits.SHORT_PIN_CHARS},64}}$")
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])$")


@functools.cache
def words() -> tuple[str, ...]:
    from mnemonic import Mnemonic  # read when an invite is made or read, not at startup

    return tuple(Mnemonic("english").wordlist)


@functools.cache
def _by_prefix() -> dict[str, str]:
    return {word[:4]: word for word in words()}


def new_words() -> str:
    """Fresh words: ``limits.INVITE_WORDS`` of them, 11 bits each."""
    return "-".join(secrets.choice(words()) for _ in range(limits.INVITE_WORDS))


def canonical_words(code: str) -> str:
    """An invite's words as the hub keeps them: lower case, whole words, joined by ``-``. Any case,
    spaces or dots between them, and a word's first four letters are taken."""
    given = [w for w in _SEPARATORS.split(code.strip().lower()) if w]
    if len(given) != limits.INVITE_WORDS:
        raise InviteError(
            f"an invite's code is {limits.INVITE_WORDS} words, not {len(given)}: "
            "copy the invite again, whole"
        )
    return "-".join(_word(w) for w in given)


def _word(given: str) -> str:
    known = _by_prefix()
    whole = known.get(given[:4])
    if whole is not None and whole.startswith(given):
        return whole
    shown = given[:24]
    near = difflib.get_close_matches(given, words(), n=1)
    hint = f" (did you mean '{near[0]}'?)" if near else ""
    raise InviteError(f"'{shown}' is not a word natster's invites use{hint}: check the invite")


@dataclass(frozen=True)
class ShortInvite:
    """``CODE@HOST[:PORT][/PIN]``: what ``natster hub invite`` prints by default."""

    words: str = field(repr=False)  # the secret: an invite's words
    host: str
    port: int = DEFAULT_PORT
    pin: str | None = None  # the start of the CA's sha256, in hex (None: plain TCP)
    expires_at: int | None = field(default=None, compare=False)  # known where it was made

    @property
    def url(self) -> str:
        return f"{'tls' if self.pin else 'nats'}://{self.host}:{self.port}"

    def encode(self) -> str:
        port = "" if self.port == DEFAULT_PORT else f":{self.port}"
        pin = f"/{self.pin}" if self.pin else ""
        return f"{self.words}@{self.host}{port}{pin}"

    @classmethod
    def at(cls, words: str, url: str, ca_pin: str | None, expires_at: int) -> ShortInvite:
        """The short invite of ``words`` for the hub at ``url`` (its first address)."""
        first = urlsplit(split_urls(url)[0])
        if first.scheme != ("tls" if ca_pin else "nats"):
            raise InviteError(f"this hub speaks {'TLS' if ca_pin else 'plain TCP'}, not {url}")
        host = _host(first)
        pin = ca_pin[: limits.SHORT_PIN_CHARS] if ca_pin else None
        port = first.port or DEFAULT_PORT
        return cls(words=words, host=host, port=port, pin=pin, expires_at=expires_at)

    @classmethod
    def decode(cls, text: str) -> ShortInvite:
        text = text.strip()
        if len(text) > 512 or "@" not in text:
            raise InviteError(
                "that is not a natster invite: it looks like words@hub.example.org/… "
                "or starts with 'natster-invite-'"
            )
        code, _, where = text.rpartition("@")
        address, _, pin = where.partition("/")
        pin = pin.strip().lower()
        if pin and not _PIN.fullmatch(pin):
            raise InviteError(
                f"the part after '/' is the start of the hub's CA pin: "
                f"{limits.SHORT_PIN_CHARS} or more hex digits; copy the invite again"
            )
        try:
            parts = urlsplit(f"tls://{address.strip()}")
            port = parts.port or DEFAULT_PORT
        except ValueError as exc:
            raise InviteError(f"'{address[:64]}' is not a hub address (HOST or HOST:PORT)") from exc
        host = _host(parts)
        if not _HOST.fullmatch(host) or parts.path or parts.query or parts.fragment:
            raise InviteError(f"'{address[:64]}' is not a hub address (HOST or HOST:PORT)")
        return cls(words=canonical_words(code), host=host, port=port, pin=pin or None)


def _host(parts: SplitResult) -> str:
    """The host of a split URL as written (an IPv6 address keeps its brackets)."""
    return parts.netloc.rsplit(":", 1)[0] if parts.port else parts.netloc
