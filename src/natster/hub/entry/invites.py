"""Invites: a way into a hub for one newcomer, single-use and expiring.

A *short* invite (``short_invites.py``) is a few words with the hub's address and the
start of its CA pin, redeemed at the hub's doorstep (``doorstep.py``). A *long* one
(``natster-invite-...``) needs no doorstep: it carries the hub's URL, the pin of the CA
its TLS certificate chains to (the sha256 of that CA's certificate: ``init`` trusts
nothing else), a single-use token, and the creds of a throwaway user in the hub's signup
account. That user may publish to ``natster.signup`` and read its own inbox, nothing
else, and its JWT expires with the invite. Either secret (the words, the token) is kept
in a KV bucket under its sha256 with a per-key TTL, and deleted when used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import ClassVar, Self

from natster import endpoints, limits, subjects
from natster._bucket import Bucket
from natster._nats import connect
from natster.errors import InviteError, NatsterError
from natster.hub.entry import short_invites
from natster.hub.entry.short_invites import ShortInvite
from natster.hub.state import HubDir
from natster.names import is_hash
from natster.security import Creds, KeyKind, KeyPair
from natster.security import jwt as jwtlib

PREFIX = "natster-invite-"
VERSION = 2  # 2: the CA pin


@dataclass(frozen=True)
class Pasted:
    """What every pasteable token carries (an invite, a node token): a hub URL and the
    pin of its CA, a single-use secret, and a throwaway user's creds, until ``expires_at``.
    One line: ``PREFIX`` and base64url (no padding) of its JSON."""

    url: str
    token: str = field(repr=False)
    creds: Creds = field(repr=False)
    expires_at: int
    ca: str | None = None  # the CA's pin, for a tls:// URL

    PREFIX: ClassVar[str]
    VERSION: ClassVar[int]
    WHAT: ClassVar[str]  # what users call it
    BAD_URL: ClassVar[str]  # what a URL that is not a NATS URL is called

    @property
    def inbox_prefix(self) -> str:
        """The only inbox this token's user may read (so holders can't read each other's)."""
        return subjects.inbox_of(self.creds.public_key)

    @property
    def expired(self) -> bool:
        return self.expires_at <= time.time()

    def _extra(self) -> dict[str, object]:
        """A subclass's own fields, in the JSON."""
        return {}

    @classmethod
    def _parse_extra(cls, body: dict[str, object]) -> dict[str, object]:
        return {}

    def encode(self) -> str:
        body = {
            "v": self.VERSION,
            "url": self.url,
            **self._extra(),
            "token": self.token,
            "exp": self.expires_at,
            "jwt": self.creds.jwt,
            "seed": self.creds.seed,
            **({"ca": self.ca} if self.ca else {}),
        }
        raw = json.dumps(body, separators=(",", ":")).encode()
        return self.PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Self:
        text = text.strip()
        if len(text) > limits.MAX_INVITE_CHARS or not text.startswith(cls.PREFIX):
            raise InviteError(f"that is not a natster {cls.WHAT} (it starts with '{cls.PREFIX}')")
        body = cls._body(text[len(cls.PREFIX) :])
        if body.get("v") != cls.VERSION:
            raise InviteError(f"that {cls.WHAT} is from another version of natster")
        try:
            made = cls(
                url=str_field(body, "url"),
                token=str_field(body, "token"),
                creds=Creds(jwt=str_field(body, "jwt"), seed=str_field(body, "seed")),
                expires_at=int(body["exp"]),  # type: ignore[call-overload]
                ca=str_field(body, "ca") if "ca" in body else None,
                **cls._parse_extra(body),
            )
            KeyPair.from_seed(made.creds.seed)  # the seed must at least be a seed
        except (NatsterError, ValueError, KeyError, TypeError) as exc:
            raise cls._damaged() from exc
        if not made.url.startswith(("nats://", "tls://")):
            raise InviteError(cls.BAD_URL)
        tls = made.url.startswith("tls://")
        if tls != (made.ca is not None) or (tls and not is_hash(made.ca or "")):
            raise cls._damaged()
        return made

    @classmethod
    def _damaged(cls) -> InviteError:
        return InviteError(f"that {cls.WHAT} is damaged: copy it again, whole")

    @classmethod
    def _body(cls, payload: str) -> dict[str, object]:
        try:
            body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (binascii.Error, ValueError) as exc:
            raise cls._damaged() from exc
        if not isinstance(body, dict):
            raise cls._damaged()
        return body


@dataclass(frozen=True)
class Invite(Pasted):
    PREFIX = PREFIX
    VERSION = VERSION
    WHAT = "invite"
    BAD_URL = "that invite's hub URL is not a NATS URL"


def str_field(body: dict[str, object], key: str) -> str:
    value = body[key]
    if not isinstance(value, str) or not value:
        raise ValueError(key)
    return value


def token_key(token: str) -> str:
    """The KV key of a token: its sha256, so the bucket never holds a usable token."""
    return hashlib.sha256(token.encode()).hexdigest()


def throwaway_user(
    account: KeyPair,
    expires_at: int,
    *,
    name: str,
    subject: str,
    caps: tuple[int, int, int],
) -> Creds:
    """A user of ``account`` until ``expires_at`` that may publish to ``subject`` and
    read its own inbox, nothing else: what a pasteable token carries."""
    user = KeyPair.create(KeyKind.USER)
    jwt = inbox_user(account, user.public_key, expires_at, name=name, pub=[subject], caps=caps)
    return Creds(jwt=jwt, seed=user.seed)


def inbox_user(
    account: KeyPair,
    user: str,
    expires_at: int,
    *,
    name: str,
    pub: list[str],
    caps: tuple[int, int, int],
    inbox: str | None = None,
) -> str:
    """The JWT of ``user`` in ``account`` until ``expires_at``: it may publish to
    ``pub`` and read its own inbox (``inbox``, else ``_INBOX_<its key>``), nothing else."""
    claims = jwtlib.user_claims(
        user,
        name=name,
        expires=expires_at,
        pub_allow=pub,
        sub_allow=[f"{inbox}.>" if inbox else subjects.inbox_allowed(user)],
        limits=caps,
    )
    return jwtlib.encode(claims, account)


SIGNUP_CAPS = (8, 1024 * 1024, limits.MAX_REQUEST_BYTES)  # subs, data, payload


def signup_user(signup_account: KeyPair, expires_at: int) -> Creds:
    return throwaway_user(
        signup_account,
        expires_at,
        name="natster-invitee",
        subject=subjects.SIGNUP,
        caps=SIGNUP_CAPS,
    )


def doorstep_guest(
    signup_account: KeyPair, user: str, inbox: str, expires_at: int, *, device: bool
) -> str:
    """The JWT of a short invite's holder (the key nats-server made for its connection):
    it may ask ``natster.signup`` (a short device code's holder: ``natster.device.code``,
    for what the code's words unlock) and read ``inbox``, the one it named, nothing else."""
    return inbox_user(
        signup_account,
        user,
        expires_at,
        name="natster-new-device" if device else "natster-invitee",
        pub=[subjects.DEVICE_CODE if device else subjects.SIGNUP],
        caps=SIGNUP_CAPS,
        inbox=inbox,
    )


def signin_guest(signup_account: KeyPair, user_public_key: str, expires_at: int) -> str:
    """The JWT of a browser's sign-in page, for the key the page made (its seed stays
    there): it may offer a sign-in code and wait for it, and read its own inbox."""
    return inbox_user(
        signup_account,
        user_public_key,
        expires_at,
        name="natster-signin-page",
        pub=[e.local() for e in endpoints.called_by("sign-in pages")],
        caps=(4, 256 * 1024, limits.MAX_REQUEST_BYTES),
    )


async def mint_invite(hub: HubDir, ttl_s: float, url: str | None = None) -> Invite:
    """Create an invite on a running hub: store its token, issue its signup user. It
    carries ``url``, else this node's address and those of the other nodes of its
    cluster (as their servers gossip them), so its holder fails over from the start."""
    token = secrets.token_urlsafe(32)
    expires_at, nodes, ca_pin = await _store(hub, token, ttl_s)
    creds = signup_user(hub.seed("signup"), expires_at)
    return Invite(
        url=url or ",".join(nodes), token=token, creds=creds, expires_at=expires_at, ca=ca_pin
    )


async def mint_short_invite(hub: HubDir, ttl_s: float, url: str | None = None) -> ShortInvite:
    """Create a short invite on a running hub: its words, stored like a long invite's
    token, redeemed at the hub's doorstep. It names ``url`` (else this node's address):
    once in, a member's connection learns the other nodes of a cluster."""
    words = short_invites.new_words()
    expires_at, nodes, ca_pin = await _store(hub, words, ttl_s)
    return ShortInvite.at(words, url or nodes[0], ca_pin, expires_at)


async def _store(hub: HubDir, token: str, ttl_s: float) -> tuple[int, list[str], str | None]:
    """Keep ``token``'s sha256 until it expires; when that is, the hub's addresses, and
    the pin of its CA (None: plain TCP)."""
    if not limits.MIN_INVITE_TTL_S <= ttl_s <= limits.MAX_INVITE_TTL_S:
        raise InviteError(
            f"an invite lives between {limits.MIN_INVITE_TTL_S} s and "
            f"{limits.MAX_INVITE_TTL_S // 86400} days"
        )
    state = hub.require_running()
    expires_at = int(time.time() + ttl_s)
    nc = await connect(
        state.local_url, hub.creds("accounts"), name="natster-invite", trust=hub.trust()
    )
    try:
        kv = await Bucket.open(nc.jetstream(), subjects.INVITES_BUCKET)
        record = {"expires_at": expires_at, "created_at": int(time.time())}
        await kv.create(token_key(token), json.dumps(record).encode(), ttl=ttl_s)
        nodes = [state.url, *(f"{u.scheme}://{u.netloc}" for u in nc.discovered_servers)]
    finally:
        await nc.close()
    return expires_at, list(dict.fromkeys(nodes)), state.ca_pin
