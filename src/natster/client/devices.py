"""Devices: more machines of one account, each with its own key, rights and expiry.

The machine holding the account key adds a device (``natster device add``). It makes a
one-line device code carrying the hub's address, the pin of its CA and the creds of a
throwaway user of the account, who may publish to one rendezvous subject
(``natster.device.redeem.<id>``) and read its own inbox until the code expires, and
waits. The new machine (``natster init --device CODE``) makes its own user key and
xkey and sends only their public keys there; the adding machine answers with a user JWT
for that key, signed by the account key, with the rights and expiry asked for, sealed
to the new machine's xkey, and records the device in ``devices.json``. The account seed
never leaves its machine, nor a device's seed its device.

A device's rights are its JWT's permissions, so nats-server enforces them whatever the
device runs: no device manages devices; a read-only one also cannot share, unshare,
import, rename the account or serve. ``device revoke`` has the account service put the
device's key in the account JWT's revocation list: nats-server closes its connections.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import secrets
import ssl
import time
from dataclasses import dataclass, field
from typing import Literal

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import BaseModel, ValidationError

from natster import _nats, _tls, endpoints, limits, subjects, wire
from natster._clock import now_iso
from natster._fs import write_atomic
from natster._nats import Login
from natster._quiet import quietly
from natster._tls import Trust
from natster.errors import (
    ConfigError,
    CredentialsRefused,
    InviteError,
    NatsterError,
    Refused,
    RemoteError,
)
from natster.hub.entry import short_invites
from natster.hub.entry.invites import Pasted, str_field, throwaway_user, token_key
from natster.hub.entry.short_invites import ShortInvite
from natster.security import Creds, KeyKind, KeyPair, XKey
from natster.security import jwt as jwtlib

from ._client import ACCOUNT_SERVICE, NatsterClient
from .context import Context, Home
from .joining import _riding_out, _verify

__all__ = [
    "THIS_MACHINE",
    "Device",
    "DeviceOffer",
    "DeviceView",
    "Rights",
    "list_devices",
    "offer_device",
    "redeem",
    "revoke_device",
]

Rights = Literal["full", "read-only"]
Kind = Literal["machine", "browser"]
REDEEM = subjects.DEVICE_REDEEM  # .<id>: inside the account, answered by `device add`
THIS_MACHINE = "this machine"  # how `device ls` names the machine holding the key

# every device: managing devices is for the machine holding the account key
_DEVICE_PUB_DENY = [e.local() for e in endpoints.called_by("the account key")] + [f"{REDEEM}.>"]
# a read-only device also may not change what is shared or imported, nor serve (events,
# heartbeats, imports, account updates, serving credentials)
_READ_ONLY_PUB_DENY = [e.local() for e in endpoints.called_by("writers")]
_READ_ONLY_SUB_DENY = [subjects.CATALOG_EXPORT]  # where servers listened before serving accounts


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Permissions:
    """What a device's JWT lets it do: what it may not publish, what it may subscribe to
    (its own inbox, and the account's feed: no reply meant for another of the
    account's users reaches it) and what not."""

    pub_deny: list[str]
    sub_allow: list[str]
    sub_deny: list[str]


def device_permissions(rights: Rights, user: str) -> Permissions:
    """The permissions of the device whose user key is ``user``."""
    reads = [subjects.inbox_allowed(user), subjects.FEED_LOCAL]
    if rights == "read-only":
        pub_deny = [*_DEVICE_PUB_DENY, *_READ_ONLY_PUB_DENY]
        return Permissions(pub_deny, reads, list(_READ_ONLY_SUB_DENY))
    return Permissions(list(_DEVICE_PUB_DENY), reads, [])


@dataclass(frozen=True)
class DeviceCode(Pasted):
    """What ``init --device`` redeems: the hub, the account, the rendezvous id (token)."""

    account: str = field(kw_only=True)

    PREFIX = "natster-device-"
    VERSION = 1
    WHAT = "device code"
    BAD_URL = "that device code's hub URL is not a NATS URL"

    def _extra(self) -> dict[str, object]:
        return {"account": self.account}

    @classmethod
    def _parse_extra(cls, body: dict[str, object]) -> dict[str, object]:
        return {"account": str_field(body, "account")}


class Device(BaseModel):
    name: str
    user: str  # the device's user public key
    rights: Rights
    kind: Kind = "machine"  # a machine (`init --device`) or a browser (`login CODE`)
    host: str = ""  # what the device called itself
    added_at: str
    expires_at: int | None = None  # unix seconds (None: never)
    revoked_at: str | None = None


class DeviceView(Device):
    """A device as ``device ls`` shows it."""

    this_machine: bool = False
    online: bool = False
    last_seen: str | None = None  # a connection's end, as the hub remembers it


class _Grant(BaseModel):
    jwt: str
    name: str
    rights: Rights
    account_name: str


# --- the machine holding the account key -----------------------------------------------
class DeviceBook:
    """``devices.json`` beside the context: the devices this machine added."""

    def __init__(self, home: Home) -> None:
        self._path = home.devices_file

    def load(self) -> dict[str, Device]:
        try:
            raw = json.loads(self._path.read_text())
            return {name: Device.model_validate(item) for name, item in dict(raw).items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, ValidationError) as exc:
            raise ConfigError(f"{self._path} is damaged: {exc}") from exc

    def save(self, devices: dict[str, Device]) -> None:
        body = {name: d.model_dump() for name, d in sorted(devices.items())}
        write_atomic(self._path, json.dumps(body, indent=2) + "\n")


@dataclass
class DeviceOffer:
    """A device code, and the wait for the one machine that redeems it."""

    code: DeviceCode
    short: ShortInvite  # the same, as words@hub/pin (what `device add` prints)
    name: str
    _client: NatsterClient
    _rights: Rights
    _expires_s: float | None
    _requests: asyncio.Queue[Msg]
    _sub: Subscription

    async def wait(self) -> Device:
        """Answer the first valid redeem (then the code is spent); the device, recorded."""
        try:
            while True:
                left = self.code.expires_at - time.time()
                if left <= 0:
                    raise InviteError("the device code expired before a machine used it")
                try:
                    msg = await asyncio.wait_for(self._requests.get(), left)
                except TimeoutError:
                    continue
                device = await self._answer(msg)
                if device is not None:
                    return device
        finally:
            await self.close()

    async def close(self) -> None:
        with quietly(log, "unsubscribing a device offer"):  # the connection may be gone
            await self._sub.unsubscribe()

    async def _answer(self, msg: Msg) -> Device | None:
        try:
            request = wire.parse_request(msg.data, wire.DeviceRedeemRequest)
        except Refused as exc:  # a damaged request: said to its sender, the code stays
            await _reply(msg, wire.fail(exc.status, str(exc)))
            return None
        reply, device = grant_device(
            self._client.home,
            self.name,
            user=request.user,
            xkey=request.xkey,
            rights=self._rights,
            expires_s=self._expires_s,
            host=request.host,
        )
        await _reply(msg, wire.ok(reply.model_dump()))
        return device


def grant_device(
    home: Home,
    name: str,
    *,
    user: str,
    xkey: str,
    rights: Rights,
    expires_s: float | None,
    host: str = "",
    kind: Kind = "machine",
) -> tuple[wire.DeviceGrant, Device]:
    """Sign a user JWT for a device's key with the account key, seal it to the device's
    xkey, and record the device (before it can use the JWT: revocable at once)."""
    context = home.load()
    expires_at = None if expires_s is None else int(time.time() + expires_s)
    allowed = device_permissions(rights, user)
    claims = jwtlib.user_claims(
        user,
        name=name,
        expires=expires_at,
        pub_deny=allowed.pub_deny,
        sub_allow=allowed.sub_allow,
        sub_deny=allowed.sub_deny,
    )
    grant = _Grant(
        jwt=jwtlib.encode(claims, home.account_key()),
        name=name,
        rights=rights,
        account_name=context.name,
    )
    sender = XKey.create()
    sealed = sender.seal(grant.model_dump_json().encode(), xkey)
    reply = wire.DeviceGrant(
        xkey=sender.public_key, sealed=base64.urlsafe_b64encode(sealed).decode("ascii")
    )
    device = Device(
        name=name,
        user=user,
        rights=rights,
        kind=kind,
        host=host,
        added_at=now_iso(),
        expires_at=expires_at,
    )
    book = DeviceBook(home)
    devices = book.load()
    devices[name] = device
    book.save(devices)
    return reply, device


async def _reply(msg: Msg, body: bytes) -> None:
    if msg.reply:
        with _nats.mapped():
            await msg.respond(body)


async def offer_device(
    client: NatsterClient,
    name: str,
    *,
    rights: Rights = "full",
    expires_s: float | None = None,
    code_ttl_s: float = limits.DEVICE_CODE_TTL_S,
) -> DeviceOffer:
    """Make a device code for ``name`` and listen for its redeem (``device add``)."""
    home = client.home
    check_new_device(home, name)
    context = home.load()
    token = secrets.token_hex(16)
    expires_at = int(time.time() + code_ttl_s)
    creds = throwaway_user(
        home.account_key(),
        expires_at,
        name="natster-new-device",
        subject=f"{REDEEM}.{token}",
        caps=(4, 64 * 1024, limits.MAX_REQUEST_BYTES),
    )
    requests: asyncio.Queue[Msg] = asyncio.Queue()

    async def arrived(msg: Msg) -> None:
        requests.put_nowait(msg)

    with _nats.mapped():
        sub = await client.connection.subscribe(f"{REDEEM}.{token}", cb=arrived)
        await client.connection.flush()
    pin = _pin(home)
    code = DeviceCode(
        url=context.url,
        token=token,
        creds=creds,
        expires_at=expires_at,
        ca=pin,
        account=context.account,
    )
    words = short_invites.new_words()  # the short code: the hub keeps the rest for them
    keeping = wire.DeviceCodeAddRequest(
        key=token_key(words),
        token=token,
        jwt=creds.jwt,
        sealed=_seal_seed(creds.seed, words, token),
        expires_at=expires_at,
    )
    try:
        await client.request(endpoints.DEVICES_CODE.local(), keeping.encode(), what=ACCOUNT_SERVICE)
    except BaseException:
        with quietly(log, "unsubscribing a device offer"):
            await sub.unsubscribe()
        raise
    short = ShortInvite.at(words, context.url, pin, expires_at)
    return DeviceOffer(code, short, name, client, rights, expires_s, requests, sub)


def _words_key(words: str, token: str) -> bytes:
    """The key a short code's words make (argon2id, salted with the rendezvous id): what
    the hub keeps for them stays sealed to anyone who does not hold the words."""
    from nacl import pwhash

    return bytes(
        pwhash.argon2id.kdf(
            32,
            words.encode(),
            bytes.fromhex(token)[: pwhash.argon2id.SALTBYTES],
            opslimit=pwhash.argon2id.OPSLIMIT_INTERACTIVE,
            memlimit=pwhash.argon2id.MEMLIMIT_INTERACTIVE,
        )
    )


def _seal_seed(seed: str, words: str, token: str) -> str:
    from nacl.secret import SecretBox

    sealed = SecretBox(_words_key(words, token)).encrypt(seed.encode())
    return base64.urlsafe_b64encode(bytes(sealed)).decode("ascii")


def _open_seed(sealed: str, words: str, token: str) -> str:
    from nacl.exceptions import CryptoError as NaclCryptoError
    from nacl.secret import SecretBox

    try:
        raw = base64.urlsafe_b64decode(sealed)
        return SecretBox(_words_key(words, token)).decrypt(raw).decode("ascii")
    except (binascii.Error, ValueError, NaclCryptoError) as exc:
        raise RemoteError("the hub gave back a device code that does not open") from exc


def check_new_device(home: Home, name: str) -> None:
    """``name`` may name a new device of this machine's account (it holds the key)."""
    require_account_key(home)
    if not re.fullmatch(wire.DEVICE_NAME, name):
        raise ConfigError("a device's name is letters, digits, '_', '.' and '-' (64 at most)")
    existing = DeviceBook(home).load().get(name)
    if existing is not None and existing.revoked_at is None:
        raise ConfigError(f"this account already has a device named {name!r}: revoke it first")


def require_account_key(home: Home) -> None:
    if not home.account_seed_file.exists():
        raise ConfigError(
            "devices are managed from the machine that holds the account key "
            "(this machine is itself a device)"
        )


def _pin(home: Home) -> str | None:
    pem = home.ca_pem()
    if pem is None:
        return None
    try:
        return _tls.fingerprint(ssl.PEM_cert_to_DER_cert(pem.decode("ascii")))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{home.ca_file} is damaged: {exc}") from exc


# --- the new machine -------------------------------------------------------------------
async def redeem(code_text: str, *, home: Home, host: str = "") -> Context:
    """``natster init --device CODE``: become a device of the account that made CODE
    (a long code, or a short one: words@hub/pin)."""
    home.require_empty()
    text = code_text.strip()
    if text.startswith(DeviceCode.PREFIX):
        code = DeviceCode.decode(text)
        if code.expired:
            raise InviteError("this device code has expired: run `natster device add` again")
        trust = None
        if code.ca is not None:  # the pin first: nothing is sent to a hub that fails it
            trust = Trust(await _tls.pinned_ca(code.url, code.ca))
    else:
        code, trust = await _unlock(ShortInvite.decode(text))
    user, xkey = KeyPair.create(KeyKind.USER), XKey.create()
    request = wire.DeviceRedeemRequest(user=user.public_key, xkey=xkey.public_key, host=host[:64])
    nc = await _nats.connect(
        code.url, code.creds, name="natster-new-device", trust=trust, inbox_prefix=code.inbox_prefix
    )
    try:
        data = await _nats.request(
            nc,
            f"{REDEEM}.{code.token}",
            request.model_dump_json().encode(),
            what="the machine that made this device code (is `natster device add` running?)",
        )
    finally:
        await nc.close()
    grant = _open(data, xkey)
    claims = jwtlib.decode_user(grant.jwt)
    if claims.sub != user.public_key or claims.iss != code.account:
        raise RemoteError("the device grant is not for this machine's key and account")
    creds = Creds(jwt=grant.jwt, seed=user.seed)
    await _riding_out(lambda: _verify(code.url, creds, code.account, trust))
    context = Context(
        account=code.account,
        name=grant.account_name,
        url=code.url,
        user=user.public_key,
        initialized_at=now_iso(),
        device=grant.name,
        rights=grant.rights,
        expires_at=claims.exp,
    )
    home.save(context, None, creds, None if trust is None else trust.ca_pem)
    return context


async def _unlock(short: ShortInvite) -> tuple[DeviceCode, Trust | None]:
    """A short code's words, at the hub's doorstep (the CA pin checked first), for the
    long code's parts the hub keeps; once: then they are spent."""
    trust = None
    if short.pin is not None:
        trust = Trust(await _tls.pinned_ca(short.url, short.pin))
    inbox = subjects.inbox_of(secrets.token_hex(16))  # the doorstep lets us read only this
    try:
        nc = await _nats.connect(
            short.url,
            Login(inbox, short.words),
            name="natster-new-device",
            trust=trust,
            inbox_prefix=inbox,
        )
    except CredentialsRefused as exc:
        raise InviteError(
            "the hub did not take this device code: it was used already, has expired, or "
            "its words are wrong (run `natster device add` again)"
        ) from exc
    try:
        data = await _nats.request(
            nc,
            subjects.DEVICE_CODE,
            wire.DeviceCodeRequest(words=short.words).encode(),
            what=ACCOUNT_SERVICE,
        )
    finally:
        await nc.close()
    fetched = endpoints.DEVICE_CODE.parse(data, ACCOUNT_SERVICE)
    seed = _open_seed(fetched.sealed, short.words, fetched.token)
    code = DeviceCode(
        url=short.url,
        token=fetched.token,
        creds=Creds(jwt=fetched.jwt, seed=seed),
        expires_at=fetched.expires_at,
        ca=None,
        account=fetched.account,
    )
    return code, trust


def _open(data: object, xkey: XKey) -> _Grant:
    try:
        reply = wire.DeviceGrant.model_validate(data)
        sealed = base64.urlsafe_b64decode(reply.sealed)
        return _Grant.model_validate_json(xkey.open(sealed, reply.xkey))
    except (ValidationError, binascii.Error, ValueError, NatsterError) as exc:
        raise RemoteError(f"the device grant cannot be opened: {exc}") from exc


# --- listing and revoking --------------------------------------------------------------
async def list_devices(client: NatsterClient) -> list[DeviceView]:
    """This machine, then every device it added, with what the hub says of their use."""
    home = client.home
    context = home.load()
    seen = await _connections(client)
    me = DeviceView(
        name=context.device or THIS_MACHINE,
        user=context.user,
        rights=context.rights,
        added_at=context.initialized_at,
        expires_at=context.expires_at,
        this_machine=True,
    )
    views = [me]
    if home.account_seed_file.exists():
        views += [DeviceView(**d.model_dump()) for d in DeviceBook(home).load().values()]
    for view in views:
        online, last = seen.get(view.user, (False, None))
        view.online, view.last_seen = online, last
    return views


async def revoke_device(client: NatsterClient, name: str) -> Device:
    """Cut the device ``name`` off: nats-server closes its connections at once."""
    home = client.home
    require_account_key(home)
    if name in (THIS_MACHINE, home.load().device):
        raise ConfigError(
            "that is this machine, which holds the account key: revoking it would lock "
            "you out of your own account"
        )
    book = DeviceBook(home)
    devices = book.load()
    device = devices.get(name)
    if device is None:
        raise ConfigError(f"this machine added no device named {name!r} (`natster device ls`)")
    request = wire.DeviceRevokeRequest(user=device.user)
    await client.request(
        endpoints.DEVICES_REVOKE.local(),
        request.model_dump_json().encode(),
        what=ACCOUNT_SERVICE,
    )
    devices[name] = device.model_copy(update={"revoked_at": now_iso()})
    book.save(devices)
    return devices[name]


async def _connections(client: NatsterClient) -> dict[str, tuple[bool, str | None]]:
    """user key -> (connected now, when a connection of it last ended), from every node's
    account-scoped CONNZ (nats-server's own; each account sees only its own)."""
    nc = client.connection
    inbox = nc.new_inbox()
    answers: list[bytes] = []

    async def arrived(msg: Msg) -> None:
        answers.append(msg.data)

    options = json.dumps({"state": 2, "auth": True, "limit": 1024}).encode()  # 2: open, closed
    with _nats.mapped():
        sub = await nc.subscribe(inbox, cb=arrived)
        await nc.publish(subjects.ACCOUNT_CONNZ, options, reply=inbox)
        await nc.flush()
    await asyncio.sleep(limits.DEVICE_SEEN_WAIT_S)  # every node answers, or is not asked
    with _nats.mapped():
        await sub.unsubscribe()
    seen: dict[str, tuple[bool, str | None]] = {}
    for data in answers:
        try:
            connections = json.loads(data)["data"]["connections"] or []
        except (ValueError, KeyError, TypeError):
            continue
        for conn in connections:
            user = conn.get("authorized_user") if isinstance(conn, dict) else None
            if not isinstance(user, str):
                continue
            online, last = seen.get(user, (False, None))
            stop = conn.get("stop")
            if stop is None:
                online = True
            elif isinstance(stop, str) and (last is None or stop > last):
                last = stop[:19] + "Z" if len(stop) >= 19 else stop
            seen[user] = (online, last)
    return seen
