"""``natster init``: join a hub with an invite.

The account key is made here and its seed never leaves this machine: the account
service receives the public key and a signature proving we hold it, and this
machine signs its own user JWT with the account key.
"""

from __future__ import annotations

import base64
import getpass
from collections.abc import Awaitable, Callable
from typing import TypeVar

from natster import _nats, _tls, limits, subjects, wire
from natster._clock import now_iso
from natster._tls import Trust
from natster.errors import (
    ConnectionFailed,
    InviteError,
    RemoteError,
    ServiceUnavailable,
)
from natster.hub.invites import Invite
from natster.security import Creds, KeyKind, KeyPair
from natster.security import jwt as jwtlib

from ._client import ACCOUNT_SERVICE, account_info
from .context import Context, Home

T = TypeVar("T")


def default_name() -> str:
    try:
        return getpass.getuser()[:64] or "natster"
    except (KeyError, OSError):
        return "natster"


async def join(
    invite_text: str, *, home: Home, name: str | None = None, url: str | None = None
) -> Context:
    home.require_empty()
    invite = Invite.decode(invite_text)
    if invite.expired:
        raise InviteError("this invite has expired: ask the hub's owner for a new one")
    hub_url = url or invite.url
    name = (name or default_name()).strip()
    account = KeyPair.create(KeyKind.ACCOUNT)
    proof = account.sign(wire.signup_proof(invite.token, account.public_key))
    request = wire.SignupRequest(
        token=invite.token,
        account=account.public_key,
        name=name,
        signature=base64.urlsafe_b64encode(proof).decode().rstrip("="),
    )
    trust = None
    if invite.ca is not None:  # the pin first: nothing is sent to a hub that fails it
        if not hub_url.startswith("tls://"):
            raise InviteError(f"this invite's hub speaks TLS: use a tls:// URL, not {hub_url}")
        trust = Trust(await _tls.pinned_ca(hub_url, invite.ca))
    elif hub_url.startswith("tls://"):
        raise InviteError("this invite names no CA for a tls:// hub: ask for a new invite")
    reply = await _signup(hub_url, invite, request, trust)

    user = KeyPair.create(KeyKind.USER)
    user_jwt = jwtlib.encode(jwtlib.user_claims(user.public_key, name=name), account)
    creds = Creds(jwt=user_jwt, seed=user.seed)
    context = Context(
        account=account.public_key,
        name=reply.name if reply is not None else name,
        url=hub_url,
        user=user.public_key,
        initialized_at=reply.created_at if reply is not None and reply.created_at else now_iso(),
    )
    await _riding_out(lambda: _verify(hub_url, creds, account.public_key, trust))
    home.save(context, account, creds, None if trust is None else trust.ca_pem)
    return context


async def _signup(
    url: str, invite: Invite, request: wire.SignupRequest, trust: Trust | None
) -> wire.SignupReply | None:
    """Ask the account service for the account; asked again (same key, same proof) while
    the hub cannot answer, e.g. electing a leader after losing a node. None: an earlier
    try made the account and its answer was lost (only we hold that key)."""
    asked = False

    async def ask() -> wire.SignupReply | None:
        nonlocal asked
        retry, asked = asked, True
        nc = await _nats.connect(
            url, invite.creds, name="natster-init", trust=trust, inbox_prefix=invite.inbox_prefix
        )
        try:
            data = await _nats.request(
                nc, subjects.SIGNUP, request.model_dump_json().encode(), what=ACCOUNT_SERVICE
            )
        except RemoteError as exc:
            if exc.status == 403 and "invite" in str(exc):
                raise InviteError(str(exc)) from exc
            if retry and exc.status == 409 and "already exists" in str(exc):
                return None
            raise
        except ConnectionFailed as exc:  # its node went down while we asked: ask another
            raise ServiceUnavailable(str(exc)) from exc
        finally:
            await nc.close()
        return wire.SignupReply.model_validate(data)

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
