"""The doorstep: where a short invite's words are redeemed, through NATS's auth callout.

A short invite (``hub/entry/short_invites.py``) carries no credentials. Its holder connects with
none: as user name an inbox of its own choosing, as password the invite's words.
nats-server gives a connection without a JWT the doorstep account's *sentinel*
(``default_sentinel``: a bearer user that may do nothing), and since that account has
an auth callout, it asks this service on ``$SYS.REQ.USER.AUTH`` whether to let it in,
in a request it signs with its server key and seals to the account's xkey.

The service looks the words up among the live invites (by sha256, as ``natster.signup``
does; it does not spend them) and answers with a user of the signup account for the key
the server made for that connection: it may publish to ``natster.signup`` and read the
inbox it named, until the invite expires or ``limits.DOORSTEP_GUEST_S`` pass. A short
device code's words (kept beside the invites) get a user that may publish only to
``natster.device.code``. The
signup itself then spends the invite. Every try counts against its address and against
the whole hub (``limits.DOORSTEP_*``), so words cannot be guessed at speed.

The doorstep's keys are derived from the operator signing key, so every node of a
cluster has the same ones without another file to copy.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass

from nats.aio.msg import Msg

from natster import _nats, limits, subjects
from natster._bucket import Bucket
from natster._nats import Client, Trust
from natster._quiet import quietly
from natster._rate import RateLimit
from natster.errors import InviteError, JwtError, NatsterError, Refused
from natster.hub.accounts import claims as platform_claims
from natster.hub.entry import short_invites
from natster.hub.entry.invites import doorstep_guest, token_key
from natster.security import Creds, KeyKind, KeyPair, XKey
from natster.security import jwt as jwtlib
from natster.security.jwt import (
    AuthorizationRequestNats,
    AuthorizationResponseClaims,
    AuthorizationResponseNats,
)

log = logging.getLogger(__name__)

AUTH_SUBJECT = subjects.AUTH_CALLOUT
XKEY_HEADER = "Nats-Server-Xkey"  # the server's xkey, when the request is sealed
QUEUE = "natster-doorstep"  # one node's service answers each request
INBOX = re.compile(r"^_INBOX_[A-Za-z0-9]{16,64}$")  # what a holder may name as its inbox
CLOCK_SKEW_S = 30  # a request's expiry is read this leniently (nodes' clocks differ)


@dataclass(frozen=True)
class DoorstepKeys:
    """The doorstep account, its service's user (exempt from the callout), the sentinel
    user (every other connection starts as it) and the xkey requests are sealed to."""

    account: KeyPair
    service: KeyPair
    sentinel: KeyPair
    xkey: XKey

    @classmethod
    def of(cls, signing: KeyPair) -> DoorstepKeys:
        """The doorstep's keys, made again from the operator signing key."""
        return cls(
            account=KeyPair.from_raw(KeyKind.ACCOUNT, signing.derive("doorstep account")),
            service=KeyPair.from_raw(KeyKind.USER, signing.derive("doorstep service")),
            sentinel=KeyPair.from_raw(KeyKind.USER, signing.derive("doorstep sentinel")),
            xkey=XKey.from_raw(signing.derive("doorstep xkey")),
        )

    def account_claims(self, signup: str) -> jwtlib.AccountClaims:
        return platform_claims.doorstep_account(
            self.account.public_key,
            service=self.service.public_key,
            signup=signup,
            xkey=self.xkey.public_key,
        )

    def sentinel_jwt(self) -> str:
        """nats-server's ``default_sentinel``: a bearer user that may do nothing."""
        claims = jwtlib.user_claims(
            self.sentinel.public_key,
            name="natster-doorstep",
            pub_deny=[">"],
            sub_deny=[">"],
            bearer=True,
        )
        return jwtlib.encode(claims, self.account)

    def service_creds(self) -> Creds:
        claims = jwtlib.user_claims(self.service.public_key, name="natster-doorstep-service")
        return Creds(jwt=jwtlib.encode(claims, self.account), seed=self.service.seed)


class Doorstep:
    """The auth callout service of the doorstep account (one per node, in a queue)."""

    def __init__(self, keys: DoorstepKeys, signup: KeyPair, invites: Bucket) -> None:
        self._keys = keys
        self._signup = signup
        self._invites = invites
        self._tries = RateLimit("tries from this address", limits.DOORSTEP_TRIES)
        self._hub_tries = RateLimit("tries at this hub", limits.DOORSTEP_HUB)
        self._nc: Client | None = None

    async def start(self, url: str, trust: Trust | None) -> None:
        self._nc = await _nats.connect(
            url, self._keys.service_creds(), name="natster-doorstep", trust=trust, reconnect=True
        )
        await self._nc.subscribe(AUTH_SUBJECT, queue=QUEUE, cb=self._on_request)

    async def stop(self) -> None:
        if self._nc is not None:
            with quietly(log, "closing the doorstep's connection"):
                await self._nc.close()
            self._nc = None

    async def _on_request(self, msg: Msg) -> None:
        if self._nc is None or not msg.reply:
            return
        try:
            answer = await self.answer(msg.data, (msg.headers or {}).get(XKEY_HEADER))
        except NatsterError as exc:  # not a request from our server: no answer
            log.warning("doorstep: ignored a request that is not nats-server's: %s", exc)
            return
        except Exception:  # a bug: the server refuses the client when no answer comes
            log.exception("doorstep: could not answer an authorization request")
            return
        with quietly(log, "answering an authorization request"):
            await self._nc.publish(msg.reply, answer)

    async def answer(self, data: bytes, server_xkey: str | None) -> bytes:
        """The sealed, signed answer to one authorization request (the bytes received)."""
        raw = self._keys.xkey.open(data, server_xkey) if server_xkey else data
        request = jwtlib.decode(
            raw.decode("ascii", "replace"),
            AuthorizationRequestNats,
            now=time.time() - CLOCK_SKEW_S,
        )
        if request.sub != self._keys.account.public_key:
            raise JwtError("that request is for another account's callout")
        asked = request.nats
        try:
            response = AuthorizationResponseNats(jwt=await self._admit(asked))
        except Refused as exc:  # (a flood's 429s at debug: the rest are bounded by them)
            level = logging.DEBUG if exc.status == 429 else logging.INFO
            log.log(level, "doorstep: refused %s: %s", asked.client_info.host or "a client", exc)
            response = AuthorizationResponseNats(error=str(exc))
        claims = AuthorizationResponseClaims(
            sub=asked.user_nkey, aud=asked.server_id.id, nats=response
        )
        token = jwtlib.encode(claims, self._keys.account).encode("ascii")
        return self._keys.xkey.seal(token, server_xkey) if server_xkey else token

    async def _admit(self, asked: AuthorizationRequestNats) -> str:
        """The guest JWT for the connection ``asked`` is about, or :class:`Refused`."""
        self._tries.spend(asked.client_info.host or "?")
        self._hub_tries.spend("hub")
        inbox = asked.connect_opts.user or ""
        if not INBOX.fullmatch(inbox):
            raise Refused("no inbox of its own named as the user name")
        try:
            words = short_invites.canonical_words(asked.connect_opts.password or "")
        except InviteError as exc:
            raise Refused("those are not an invite's words") from exc
        expires_at, device = await self._live(words)
        until = min(expires_at, int(time.time() + limits.DOORSTEP_GUEST_S))
        holder = "a device code" if device else "an invite"
        log.info("doorstep: let in the holder of %s, from %s", holder, asked.client_info.host)
        return doorstep_guest(self._signup, asked.user_nkey, inbox, until, device=device)

    async def _live(self, words: str) -> tuple[int, bool]:
        """When the invite (or device code) of ``words`` expires, if it is there and
        unspent, and whether it is a device code."""
        try:
            value = await self._invites.value(token_key(words))
        except NatsterError as exc:  # the store is out of reach: say so, spend nothing
            raise Refused(f"invites cannot be checked now ({exc}): try again", 503) from exc
        try:
            found = json.loads(value or b"{}")
            expires_at = int(found["expires_at"])
        except (ValueError, KeyError, TypeError) as exc:
            raise Refused("no such invite (used, expired, or never made)", 403) from exc
        if expires_at <= time.time():
            raise Refused("no such invite (used, expired, or never made)", 403)
        return expires_at, "device" in found
