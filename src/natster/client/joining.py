"""``natster init``: join a hub with an invite (short or long: see natster.hub.entry.invites).

The account key is made here and its seed never leaves this machine: the account
service receives the public key and a signature proving we hold it, and this
machine signs its own user JWT with the account key.
"""

from __future__ import annotations

import base64
import getpass
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from natster import _nats, _tls, limits, subjects, wire
from natster._clock import now_iso
from natster._nats import Login
from natster._tls import Trust
from natster.errors import (
    ConnectionFailed,
    CredentialsRefused,
    InviteError,
    RemoteError,
    ServiceUnavailable,
)
from natster.hub.entry.invites import Invite
from natster.hub.entry.short_invites import ShortInvite
from natster.security import Creds, KeyKind, KeyPair
from natster.security import jwt as jwtlib

from ._client import ACCOUNT_SERVICE, account_info
from .context import Context, Home

__all__ = ["default_name", "join"]

T = TypeVar("T")


def default_name() -> str:
    try:
        return getpass.getuser()[:64] or "natster"
    except (KeyError, OSError):
        return "natster"


@dataclass(frozen=True)
class _Door:
    """How an invite gets its holder in: where, what is believed there, and as whom."""

    url: str
    trust: Trust | None
    key: Creds | Login = field(repr=False)
    inbox_prefix: str
    token: str = field(repr=False)
    short: bool


async def join(
    invite_text: str, *, home: Home, name: str | None = None, url: str | None = None
) -> Context:
    home.require_empty()
    door = await _door(invite_text.strip(), url)
    name = (name or default_name()).strip()
    account = KeyPair.create(KeyKind.ACCOUNT)
    proof = account.sign(wire.signup_proof(door.token, account.public_key))
    request = wire.SignupRequest(
        token=door.token,
        account=account.public_key,
        name=name,
        signature=base64.urlsafe_b64encode(proof).decode().rstrip("="),
    )
    reply, nodes = await _signup(door, request)

    user = KeyPair.create(KeyKind.USER)
    user_jwt = jwtlib.encode(jwtlib.user_claims(user.public_key, name=name), account)
    creds = Creds(jwt=user_jwt, seed=user.seed)
    hub_url = ",".join(dict.fromkeys([door.url, *nodes])) if door.short and not url else door.url
    context = Context(
        account=account.public_key,
        name=reply.name if reply is not None else name,
        url=hub_url,
        user=user.public_key,
        initialized_at=reply.created_at if reply is not None and reply.created_at else now_iso(),
    )
    await _riding_out(lambda: _verify(door.url, creds, account.public_key, door.trust))
    home.save(context, account, creds, None if door.trust is None else door.trust.ca_pem)
    return context


async def _door(text: str, url: str | None) -> _Door:
    """The way in of a long invite (its own creds) or a short one (its words, at the
    hub's doorstep, with an inbox named here); the hub's CA checked against the pin
    first: nothing is sent to a hub that fails it."""
    if text.startswith(Invite.PREFIX):
        invite = Invite.decode(text)
        if invite.expired:
            raise InviteError("this invite has expired: ask the hub's owner for a new one")
        hub_url = url or invite.url
        trust = await _pinned(hub_url, invite.ca)
        return _Door(hub_url, trust, invite.creds, invite.inbox_prefix, invite.token, False)
    short = ShortInvite.decode(text)
    hub_url = url or short.url
    trust = await _pinned(hub_url, short.pin)
    inbox = subjects.inbox_of(secrets.token_hex(16))  # the doorstep lets us read only this
    return _Door(hub_url, trust, Login(inbox, short.words), inbox, short.words, True)


async def _pinned(hub_url: str, pin: str | None) -> Trust | None:
    if pin is not None:
        if not hub_url.startswith("tls://"):
            raise InviteError(f"this invite's hub speaks TLS: use a tls:// URL, not {hub_url}")
        return Trust(await _tls.pinned_ca(hub_url, pin))
    if hub_url.startswith("tls://"):
        raise InviteError("this invite names no CA for a tls:// hub: ask for a new invite")
    return None


async def _signup(
    door: _Door, request: wire.SignupRequest
) -> tuple[wire.SignupReply | None, list[str]]:
    """Ask the account service for the account; asked again (same key, same proof) while
    the hub cannot answer, e.g. electing a leader after losing a node. None: an earlier
    try made the account and its answer was lost (only we hold that key). With it, the
    other nodes of the hub the connection learned of."""
    asked = False

    async def ask() -> tuple[wire.SignupReply | None, list[str]]:
        nonlocal asked
        retry, asked = asked, True
        try:
            nc = await _nats.connect(
                door.url,
                door.key,
                name="natster-init",
                trust=door.trust,
                inbox_prefix=door.inbox_prefix,
            )
        except CredentialsRefused as exc:
            if not door.short:
                raise
            raise InviteError(
                "the hub did not take this invite: it was used already, has expired, or "
                "its words are wrong (after many tries, wait a minute)"
            ) from exc
        try:
            data = await _nats.request(
                nc, subjects.SIGNUP, request.model_dump_json().encode(), what=ACCOUNT_SERVICE
            )
            nodes = [f"{u.scheme}://{u.netloc}" for u in nc.discovered_servers]
        except RemoteError as exc:
            if exc.status == 403 and "invite" in str(exc):
                raise InviteError(str(exc)) from exc
            if retry and exc.status == 409 and "already exists" in str(exc):
                return None, []
            raise
        except ConnectionFailed as exc:  # its node went down while we asked: ask another
            raise ServiceUnavailable(str(exc)) from exc
        finally:
            await nc.close()
        return wire.SignupReply.model_validate(data), nodes

    return await _riding_out(ask)


async def _riding_out(call: Callable[[], Awaitable[T]]) -> T:
    """``call()``, asked again while the hub is reachable but cannot answer yet (a
    cluster electing a new leader after losing a node), for ``limits.JOIN_RETRY_S``."""
    return await _nats.asking_again(
        call, within=limits.JOIN_RETRY_S, transient=_not_answering_yet, pause=0.5
    )


def _not_answering_yet(exc: Exception) -> bool:
    if isinstance(exc, RemoteError):
        return exc.status in (503, 504)
    return _nats.slow_or_leaderless(exc)


async def _verify(url: str, creds: Creds, account: str, trust: Trust | None) -> None:
    """Connect as the new user and ask the account service who we are."""
    nc = await _nats.connect(url, creds, name="natster-init", trust=trust)
    try:
        info = await account_info(nc)
    except ConnectionFailed as exc:  # its node went down while we asked: ask another
        raise ServiceUnavailable(str(exc)) from exc
    finally:
        await nc.close()
    if info.account != account:
        raise RemoteError("the hub answered for another account; refusing to save this one")
