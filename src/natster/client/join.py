"""``natster init``: join a hub with an invite.

The account key is made here and its seed never leaves this machine: the account
service receives the public key and a signature proving we hold it, and this
machine signs its own user JWT with the account key.
"""

from __future__ import annotations

import base64
import getpass

from natster import _nats, _tls, subjects, wire
from natster._clock import now_iso
from natster._tls import Trust
from natster.errors import InviteError, RemoteError
from natster.hub.invites import Invite
from natster.security import Creds, KeyKind, KeyPair
from natster.security import jwt as jwtlib

from ._client import ACCOUNT_SERVICE, account_info
from .context import Context, Home


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
    nc = await _nats.connect(
        hub_url,
        invite.creds,
        name="natster-init",
        trust=trust,
        inbox_prefix=invite.inbox_prefix,
    )
    try:
        data = await _nats.request(
            nc, subjects.SIGNUP, request.model_dump_json().encode(), what=ACCOUNT_SERVICE
        )
    except RemoteError as exc:
        if exc.status == 403 and "invite" in str(exc):
            raise InviteError(str(exc)) from exc
        raise
    finally:
        await nc.close()
    reply = wire.SignupReply.model_validate(data)

    user = KeyPair.create(KeyKind.USER)
    user_jwt = jwtlib.encode(jwtlib.user_claims(user.public_key, name=name), account)
    creds = Creds(jwt=user_jwt, seed=user.seed)
    context = Context(
        account=account.public_key,
        name=reply.name,
        url=hub_url,
        user=user.public_key,
        initialized_at=reply.created_at or now_iso(),
    )
    await _verify(hub_url, creds, account.public_key, trust)
    home.save(context, account, creds, None if trust is None else trust.ca_pem)
    return context


async def _verify(url: str, creds: Creds, account: str, trust: Trust | None) -> None:
    """Connect as the new user and ask the account service who we are."""
    nc = await _nats.connect(url, creds, name="natster-init", trust=trust)
    try:
        info = await account_info(nc)
    finally:
        await nc.close()
    if info.account != account:
        raise RemoteError("the hub answered for another account; refusing to save this one")
