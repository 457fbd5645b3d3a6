"""Invites: everything a newcomer needs to join a hub, in one copy-pasteable string.

An invite carries the hub's URL, the pin of the CA its TLS certificate chains to (the
sha256 of that CA's certificate: ``init`` trusts nothing else), a single-use token, and
the creds of a throwaway user in the hub's signup account. That user may publish to
``natster.signup`` and read its own inbox, nothing else, and its JWT expires with the
invite. The token is
kept in a KV bucket under its sha256 with a per-key TTL, and deleted when used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field

from natster import limits, subjects
from natster._nats import connect
from natster.errors import InviteError, NatsterError
from natster.names import is_hash
from natster.security import Creds, KeyKind, KeyPair
from natster.security import jwt as jwtlib

from .state import HubDir

PREFIX = "natster-invite-"
VERSION = 2  # 2: the CA pin


@dataclass(frozen=True)
class Invite:
    url: str
    token: str = field(repr=False)
    creds: Creds = field(repr=False)
    expires_at: int
    ca: str | None = None  # the CA's pin, for a tls:// URL

    @property
    def inbox_prefix(self) -> str:
        """The only inbox this invite's user may read (so invitees can't read each other's)."""
        return f"_INBOX_{self.creds.public_key}"

    def encode(self) -> str:
        body = {
            "v": VERSION,
            "url": self.url,
            "token": self.token,
            "exp": self.expires_at,
            "jwt": self.creds.jwt,
            "seed": self.creds.seed,
            **({"ca": self.ca} if self.ca else {}),
        }
        raw = json.dumps(body, separators=(",", ":")).encode()
        return PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Invite:
        text = text.strip()
        if len(text) > limits.MAX_INVITE_CHARS or not text.startswith(PREFIX):
            raise InviteError("that is not a natster invite (it starts with 'natster-invite-')")
        body = _body(text[len(PREFIX) :])
        if body.get("v") != VERSION:
            raise InviteError("that invite is from another version of natster")
        try:
            invite = cls(
                url=_str(body, "url"),
                token=_str(body, "token"),
                creds=Creds(jwt=_str(body, "jwt"), seed=_str(body, "seed")),
                expires_at=int(body["exp"]),  # type: ignore[call-overload]
                ca=_str(body, "ca") if "ca" in body else None,
            )
            KeyPair.from_seed(invite.creds.seed)  # the seed must at least be a seed
        except (NatsterError, ValueError, KeyError, TypeError) as exc:
            raise InviteError("that invite is damaged: copy it again, whole") from exc
        if not invite.url.startswith(("nats://", "tls://")):
            raise InviteError("that invite's hub URL is not a NATS URL")
        tls = invite.url.startswith("tls://")
        if tls != (invite.ca is not None) or (tls and not is_hash(invite.ca or "")):
            raise InviteError("that invite is damaged: copy it again, whole")
        return invite

    @property
    def expired(self) -> bool:
        return self.expires_at <= time.time()


def _body(payload: str) -> dict[str, object]:
    try:
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise InviteError("that invite is damaged: copy it again, whole") from exc
    if not isinstance(body, dict):
        raise InviteError("that invite is damaged: copy it again, whole")
    return body


def _str(body: dict[str, object], key: str) -> str:
    value = body[key]
    if not isinstance(value, str) or not value:
        raise ValueError(key)
    return value


def token_key(token: str) -> str:
    """The KV key of a token: its sha256, so the bucket never holds a usable token."""
    return hashlib.sha256(token.encode()).hexdigest()


def signup_user(signup_account: KeyPair, expires_at: int) -> Creds:
    user = KeyPair.create(KeyKind.USER)
    inbox = f"_INBOX_{user.public_key}.>"
    claims = jwtlib.user_claims(
        user.public_key,
        name="natster-invitee",
        expires=expires_at,
        pub_allow=[subjects.SIGNUP],
        sub_allow=[inbox],
        limits=(8, 1024 * 1024, limits.MAX_REQUEST_BYTES),
    )
    return Creds(jwt=jwtlib.encode(claims, signup_account), seed=user.seed)


async def mint_invite(hub: HubDir, ttl_s: float, url: str | None = None) -> Invite:
    """Create an invite on a running hub: store its token, issue its signup user."""
    if not limits.MIN_INVITE_TTL_S <= ttl_s <= limits.MAX_INVITE_TTL_S:
        raise InviteError(
            f"an invite lives between {limits.MIN_INVITE_TTL_S} s and "
            f"{limits.MAX_INVITE_TTL_S // 86400} days"
        )
    state = hub.require_running()
    token = secrets.token_urlsafe(32)
    expires_at = int(time.time() + ttl_s)
    nc = await connect(
        state.local_url, hub.creds("accounts"), name="natster-invite", trust=hub.trust()
    )
    try:
        kv = await nc.jetstream().key_value(subjects.INVITES_BUCKET)
        record = {"expires_at": expires_at, "created_at": int(time.time())}
        await kv.create(token_key(token), json.dumps(record).encode(), msg_ttl=ttl_s)
    finally:
        await nc.close()
    creds = signup_user(hub.seed("signup"), expires_at)
    return Invite(
        url=url or state.url, token=token, creds=creds, expires_at=expires_at, ca=state.ca_pin
    )
