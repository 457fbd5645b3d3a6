"""The account service: creates accounts from invites, and edits an account only at
that account's own request.

It runs inside ``natster hub up``, connected twice: as a user of the hub's
"accounts" account (its endpoints and KV buckets), and through the resolver as a
system-account user (to push account JWTs). A caller's identity is the account key
NATS puts in token 1 of the request subject; payloads never name the caller.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import hashlib
import json
import logging
import time
from typing import Any

from nats.js.api import KeyValueConfig
from nats.js.client import JetStreamContext
from nats.micro import add_service
from nats.micro.service import Service, ServiceConfig

from natster import __version__, _bucket, _nats, endpoints, limits, subjects, wire
from natster._bucket import Bucket
from natster._clock import now_iso
from natster._nats import Client
from natster._rate import RateLimit
from natster._service import Handler, add_endpoints
from natster.endpoints import Endpoint
from natster.errors import (
    InviteError,
    JwtError,
    KeyMissing,
    NatsterError,
    Refused,
    RequestTimeout,
    ServiceUnavailable,
    StoreError,
    WrongRevision,
)
from natster.hub.accounts import claims as account_claims
from natster.hub.accounts.claims import EVERY_USER
from natster.hub.accounts.resolver import Resolver
from natster.hub.accounts.serving import serving_key, serving_user_jwt
from natster.hub.cluster.nodes import replicas
from natster.hub.entry import short_invites
from natster.hub.entry.invites import token_key
from natster.hub.state import HubConfig
from natster.names import look_alikes
from natster.security import KeyKind, KeyPair, is_public_key, verify
from natster.security import jwt as jwtlib
from natster.security.jwt import AccountClaims

log = logging.getLogger(__name__)

QUEUE = "natster-accounts"


class AccountService:
    def __init__(
        self,
        client: Client,
        resolver: Resolver,
        config: HubConfig,
        invites: Bucket,
        accounts: Bucket,
        names: Bucket,
        signing: KeyPair,
    ) -> None:
        self._nc = client
        self._signing = signing
        self._resolver = resolver
        self._config = config
        self._invites = invites
        self._accounts = accounts
        self._names = names
        self._service: Service | None = None
        self._creating: dict[str, asyncio.Task[dict[str, object]]] = {}  # by account key
        self._tries = RateLimit("tries at signing up", limits.SIGNUP_TRIES)
        self._cutting: set[asyncio.Task[None]] = set()  # leavers cut off after the answer

    @classmethod
    async def open(
        cls, client: Client, resolver: Resolver, config: HubConfig, signing: KeyPair
    ) -> AccountService:
        js = client.jetstream()
        copies = replicas(config)
        invites, accounts, names = [
            await ensure_bucket(js, bucket, description, copies)
            for bucket, description in (
                (subjects.INVITES_BUCKET, "invite tokens (sha256)"),
                (subjects.ACCOUNTS_BUCKET, "natster accounts"),
                (subjects.NAMES_BUCKET, "account names, one holder each"),
            )
        ]
        service = cls(client, resolver, config, invites, accounts, names, signing)
        await service.reserve_existing_names()
        return service

    async def start(self) -> None:
        service = await add_service(
            self._nc,
            ServiceConfig(
                name=endpoints.Service.ACCOUNTS.value,
                version=__version__,
                description="creates natster accounts and edits their imports",
                queue_group=QUEUE,
            ),
        )
        handlers: dict[Endpoint[Any], Handler] = {
            endpoints.SIGNUP: self.signup,
            endpoints.ACCOUNT_INFO: self.info,
            endpoints.ACCOUNT_UPDATE: self.update,
            endpoints.IMPORTS_ADD: self.import_add,
            endpoints.IMPORTS_REMOVE: self.import_remove,
            endpoints.IMPORTS_REVOKE: self.import_revoke,
            endpoints.IMPORTS_RESTORE: self.import_restore,
            endpoints.DEVICES_REVOKE: self.device_revoke,
            endpoints.DEVICES_CODE: self.device_code_add,
            endpoints.DEVICE_CODE: self.device_code,
            endpoints.SERVING: self.serving,
            endpoints.ACCOUNT_LEAVE: self.leave,
            endpoints.ACCOUNT_REMOVE: self.remove,
        }
        await add_endpoints(
            service, endpoints.ACCOUNTS, handlers, deadline=limits.SERVICE_DEADLINE_S
        )
        self._service = service

    async def stop(self) -> None:
        if self._service is not None:
            await self._service.stop()
            self._service = None
        if self._creating:  # accounts being made get a moment to be whole
            await asyncio.wait(list(self._creating.values()), timeout=limits.SERVICE_DEADLINE_S)
        for task in list(self._creating.values()):
            task.cancel()
        await asyncio.gather(*self._creating.values(), return_exceptions=True)
        if self._cutting:  # a leaver answered a moment ago is cut off all the same
            await asyncio.gather(*self._cutting, return_exceptions=True)

    # --- endpoints -------------------------------------------------------------------
    async def signup(self, subject: str, payload: bytes) -> dict[str, object]:
        # whoever holds an invite may ask here: a bound on tries for the whole hub keeps
        # short invites' words (44 bits) from being guessed here rather than at the doorstep
        self._tries.spend("hub")
        request = wire.parse_request(payload, wire.SignupRequest)
        account, name = request.account, _valid_name(request.name)
        if not is_public_key(account, KeyKind.ACCOUNT):
            raise Refused("account must be an account public key (A...)")
        if account in self._config.accounts.values():
            raise Refused("that account key belongs to the hub", 409)
        signature = _b64(request.signature)
        if not verify(account, wire.signup_proof(request.token, account), signature):
            raise Refused("the signature does not prove you hold that account key", 403)
        if account in self._creating:  # a try whose answer ran out of time, asked again
            return await asyncio.shield(self._creating[account])
        if await self._resolver.lookup(account) is not None:
            if (await self._record(account)).get("left_at"):
                raise Refused("that account left this hub: join with a new one", 410)
            raise Refused("that account already exists on this hub", 409)
        creating = asyncio.create_task(self._create(account, name, request.token))
        self._creating[account] = creating
        creating.add_done_callback(lambda _: self._creating.pop(account, None))
        return await asyncio.shield(creating)

    async def _create(self, account: str, name: str, token: str) -> dict[str, object]:
        """Make the account. Once begun it finishes even if the request's answer runs out
        of time: an invite is never spent on an account half made. The caller asking
        again is answered with this outcome, or told its account exists."""
        await self._reserve_name(name, account)  # before the invite: a taken name burns none
        try:
            await self._consume_invite(token)
        except BaseException:
            await self._release_name(name, account)
            raise
        await self._resolver.push(self._serving_claims(account, name))  # imported next
        await self._resolver.push(self._standard(account, name))
        created = now_iso()
        record = {"name": name, "created_at": created}
        try:
            await self._accounts.put(account, json.dumps(record).encode())
        except NatsterError as exc:  # the account's JWT names it all the same
            log.warning("account %s made, its record not kept: %s", account, exc)
        log.info("created account %s (%s)", account, name)
        await self.announce(account, name)
        return wire.SignupReply(account=account, name=name, created_at=created).model_dump()

    async def announce(self, account: str, name: str) -> None:
        """Record ``account.initialized`` with the global service (idempotent).

        The account exists either way; if the global service is down, ``update`` (or
        the next hub start) announces it again.
        """
        body = {"type": "natster.account.initialized", "data": {"account": account, "name": name}}
        for attempt in range(3):
            try:
                await _nats.request(
                    self._nc,
                    endpoints.EVENTS_PUT.local(),
                    json.dumps(body).encode(),
                    what="the global service",
                )
            except NatsterError as exc:
                level = logging.WARNING if attempt == 2 else logging.DEBUG
                log.log(level, "announcing %s failed (try %d): %s", account, attempt + 1, exc)
                await asyncio.sleep(0.5)
            else:
                return

    async def announce_hub(self) -> None:
        """Announce the hub's own account (its catalog is shared with every newcomer)."""
        await self.announce(self._config.accounts["hub"], "hub")

    def _standard(self, account: str, name: str) -> AccountClaims:
        return account_claims.user_account(
            account,
            name,
            accounts=self._config.accounts["accounts"],
            global_=self._config.accounts["global"],
            serving=self._serving_of(account),
        )

    def _serving_of(self, account: str) -> str:
        return serving_key(self._signing, account).public_key

    def _serving_claims(self, account: str, name: str) -> AccountClaims:
        return account_claims.serving_account(self._serving_of(account), account, name)

    async def _ensure_serving(self, account: str, name: str) -> tuple[AccountClaims, bool]:
        """``account``'s serving account as it should be, and whether it had to be pushed;
        its revocations kept (a revoked device's servers stay cut off)."""
        standard = self._serving_claims(account, name)
        current = await self._resolver.lookup(standard.sub)
        if current is not None:
            standard.nats.revocations = account_claims.live_revocations(
                current, time.time() - limits.SERVING_USER_TTL_S
            )
            if current.nats == standard.nats:
                return current, False
        return await self._resolver.push(standard), True

    async def serving(self, subject: str, payload: bytes) -> dict[str, object]:
        """Credentials in the caller's serving account for a user key the caller made:
        what its catalog servers answer from (hub/accounts/serving.py)."""
        account = subjects.caller_of(subject)
        request = wire.parse_request(payload, wire.ServingRequest)
        current = await self._member(account)
        name = await self._name(account, current)
        serving, _ = await self._ensure_serving(account, name)
        # issued after the account's last revocation of all its serving users (a JWT
        # issued in that second would be revoked with them)
        cut = (serving.nats.revocations or {}).get(EVERY_USER, 0)
        if (wait := cut + 1 - time.time()) > 0:
            await asyncio.sleep(wait)
        expires = int(time.time()) + limits.SERVING_USER_TTL_S
        keys = serving_key(self._signing, account)
        token = serving_user_jwt(keys, request.user, name=f"{name} catalogs", expires=expires)
        return wire.ServingGrant(
            account=keys.public_key, jwt=token, expires_at=expires
        ).model_dump()

    async def update(self, subject: str, payload: bytes) -> dict[str, object]:
        """Only the caller's own account (token 1) is edited; pushed and read back first."""
        account = subjects.caller_of(subject)
        request = wire.parse_request(payload or b"{}", wire.AccountUpdateRequest)
        current = await self._member(account)
        record = await self._record(account)
        if record.get("left_at"):  # leaving: no name is taken again
            raise Refused("this account left the hub", 410)
        name = _valid_name(request.name) if request.name else record.get("name", current.name)
        renamed = bool(name) and name != record.get("name")
        if renamed and name:
            await self._reserve_name(name, account)  # first: a taken name changes nothing
        await self._ensure_serving(account, name or "natster")
        await self._resign(account, self._standard(account, name or "natster"))
        if renamed:
            if record.get("name"):
                await self._release_name(record["name"], account, keep=name)
            record["name"] = name or ""
            await self._accounts.put(account, json.dumps(record).encode())
        await self.announce(account, name or "natster")
        log.info("updated account %s at its request", account)
        return await self.info(subject, b"")

    async def _consume_invite(self, token: str) -> None:
        """Delete the token if it is there; only one redeemer can win the revision race."""
        key = token_key(token)
        refused = Refused("this invite was already used or has expired", 403)
        try:
            entry = await self._invites.get(key)
        except KeyMissing as exc:
            raise refused from exc
        if entry.value is None or entry.operation is not None or _is_device_code(entry.value):
            raise refused  # a device code's words make no account
        try:
            await self._invites.delete(key, last=entry.revision)
        except WrongRevision as exc:  # another redeemer won
            raise refused from exc

    async def info(self, subject: str, payload: bytes) -> dict[str, object]:
        account = subjects.caller_of(subject)
        claims = await self._member(account)
        record = await self._record(account)
        return wire.AccountInfo(
            account=account,
            name=record.get("name") or claims.name or "",
            created_at=record.get("created_at", ""),
            imports=[i.subject for i in claims.nats.imports],
            exports=[e.subject for e in claims.nats.exports],
            catalogs=account_claims.imported_catalogs(claims),
        ).model_dump()

    # --- catalog imports -------------------------------------------------------------
    async def _shared(self, owner: str, catalog: str, target: str) -> bool:
        return (await self._share_check(owner, catalog, target)).shared

    async def _share_check(self, owner: str, catalog: str, target: str) -> wire.ShareCheck:
        body = wire.ShareCheckRequest(owner=owner, catalog=catalog, target=target)
        data = await _nats.request(
            self._nc,
            endpoints.SHARES_CHECK.local(),
            body.model_dump_json().encode(),
            what="the global service",
        )
        return wire.ShareCheck.model_validate(data)

    async def import_add(self, subject: str, payload: bytes) -> dict[str, object]:
        """Add an import of (owner, catalog) to the caller, only if it is shared with them."""
        caller = subjects.caller_of(subject)
        request = wire.parse_request(payload, wire.ImportAddRequest)
        if request.owner == caller:
            raise Refused("that is your own catalog: it needs no import")
        if not await self._shared(request.owner, request.catalog, caller):
            raise Refused(f"{request.catalog!r} of {request.owner} is not shared with you", 403)
        current = await self._member(caller)
        existing = account_claims.imported_catalogs(current)
        for item in existing:
            same = (item.owner, item.catalog) == (request.owner, request.catalog)
            if same and item.alias == request.alias:
                return item.model_dump()  # already there
            if not same and item.alias == request.alias:
                raise Refused(
                    f"you already use the name {request.alias!r} for another catalog: "
                    "choose another (--as)",
                    409,
                )
        exporter = self._serving_of(request.owner)
        await self._resolver.edit(
            caller,
            lambda claims: account_claims.with_catalog_import(
                claims, request.owner, request.catalog, request.alias, exporter=exporter
            ),
        )
        log.info("%s imported %s/%s as %s", caller, request.owner, request.catalog, request.alias)
        return wire.ImportedCatalog(
            owner=request.owner, catalog=request.catalog, alias=request.alias
        ).model_dump()

    async def import_remove(self, subject: str, payload: bytes) -> dict[str, object]:
        """Drop the caller's own import of (owner, catalog)."""
        caller = subjects.caller_of(subject)
        request = wire.parse_request(payload, wire.ImportRemoveRequest)
        await self._drop(caller, request.owner, request.catalog)
        return {"removed": True}

    async def import_revoke(self, subject: str, payload: bytes) -> dict[str, object]:
        """The owner unshared: remove the former recipient's import of it."""
        owner = subjects.caller_of(subject)
        request = wire.parse_request(payload, wire.ImportRevokeRequest)
        if await self._shared(owner, request.catalog, request.target):
            raise Refused("that catalog is still shared with that account", 409)
        await self._drop(request.target, owner, request.catalog)
        return {"removed": True}

    async def import_restore(self, subject: str, payload: bytes) -> dict[str, object]:
        """The owner shared again: if the log says the target had imported it (an unshare
        took the import, and they had not declined), give the import back, under the
        name they gave it (or, if they use that name for another catalog now, the first
        free one of name-2, name-3...)."""
        owner = subjects.caller_of(subject)
        request = wire.parse_request(payload, wire.ImportRestoreRequest)
        check = await self._share_check(owner, request.catalog, request.target)
        if not (check.shared and check.imported):
            return wire.ImportRestored(restored=False).model_dump()
        current = await self._member(request.target)
        imports = account_claims.imported_catalogs(current)
        for item in imports:
            if (item.owner, item.catalog) == (owner, request.catalog):
                return wire.ImportRestored(restored=True, alias=item.alias).model_dump()
        alias = _free_alias(check.alias or request.catalog, {i.alias for i in imports})
        exporter = self._serving_of(owner)
        await self._resolver.edit(
            request.target,
            lambda claims: account_claims.with_catalog_import(
                claims, owner, request.catalog, alias, exporter=exporter
            ),
        )
        log.info(
            "restored %s's import of %s/%s as %s", request.target, owner, request.catalog, alias
        )
        return wire.ImportRestored(restored=True, alias=alias).model_dump()

    async def device_revoke(self, subject: str, payload: bytes) -> dict[str, object]:
        """Revoke one user (a device) of the caller's own account."""
        caller = subjects.caller_of(subject)
        request = wire.parse_request(payload, wire.DeviceRevokeRequest)
        if await self._resolver.lookup(caller) is None:
            raise Refused("this account is not known to the hub", 404)
        at = int(time.time())
        await self._resolver.edit(
            caller, lambda claims: account_claims.with_revocation(claims, request.user, at)
        )
        # and every serving user issued so far, the device's among them: nats-server
        # closes their connections; the account's other servers (which their own
        # account connection still lets ask) renew theirs at once (client/serving.py)
        serving = self._serving_of(caller)
        if await self._resolver.lookup(serving) is not None:  # else it never served
            await self._resolver.edit(
                serving,
                lambda claims: account_claims.with_revocation(claims, EVERY_USER, at),
            )
        log.info("%s revoked its device %s and its serving users", caller, request.user)
        return {"revoked": request.user, "at": at}

    # --- leaving the hub -----------------------------------------------------------------
    async def leave(self, subject: str, payload: bytes) -> dict[str, object]:
        """The caller's account leaves the hub, proved with its account key (which a
        device does not hold): every share it gave or was given ends, others' imports of
        its catalogs go, its name is free, and a moment after this answer its
        connections are cut and none is allowed again (its JWT stays, closed)."""
        account = subjects.caller_of(subject)
        request = wire.parse_request(payload, wire.LeaveRequest)
        if account in self._config.accounts.values():
            raise Refused("the hub's own accounts cannot leave it", 403)
        if abs(time.time() - request.at) > limits.LEAVE_PROOF_S:
            raise Refused("this request to leave is too old (or a clock is wrong)", 403)
        if not verify(account, wire.leave_proof(account, request.at), _b64(request.signature)):
            raise Refused(
                "only the machine holding the account key can leave the hub: not a device",
                403,
            )
        name, left_at = await self._leaving(account, "this account is not known to the hub")
        cut = asyncio.create_task(self._cut_off(account, delay=limits.LEAVE_CUT_OFF_S))
        self._cutting.add(cut)
        cut.add_done_callback(self._cutting.discard)
        log.info("account %s (%s) left the hub", account, name)
        return wire.LeaveReply(account=account, name=name, left_at=left_at).model_dump()

    async def remove(self, subject: str, payload: bytes) -> dict[str, object]:
        """``natster hub remove``: the hub's owner (its own accounts account, asking from
        the hub's directory) removes an account as if it had left, and cuts it off at
        once: every connection of it and of its serving account closed, its JWTs no
        longer accepted, so neither its credentials nor its devices connect again."""
        if subjects.caller_of(subject) != self._config.accounts["accounts"]:
            raise Refused("only the hub's owner removes accounts", 403)
        request = wire.parse_request(payload, wire.AccountRemoveRequest)
        account = request.account
        if account in self._config.accounts.values():
            raise Refused("the hub's own accounts cannot be removed", 403)
        name, left_at = await self._leaving(account, "no such account on this hub", removed=True)
        await self._cut_off(account)
        log.warning("account %s (%s) was removed by the hub's owner", account, name)
        return wire.LeaveReply(account=account, name=name, left_at=left_at).model_dump()

    async def _leaving(
        self, account: str, unknown: str, *, removed: bool = False
    ) -> tuple[str, str]:
        """Mark ``account`` as gone (first: a hub stopped half-way finishes the leaving at
        its next start), then do everything of it but the cut-off: its name, and when."""
        current = await self._resolver.lookup(account)
        if current is None:
            raise Refused(unknown, 404)
        record = await self._record(account)
        name = str(record.get("name") or current.name or "")
        left_at = str(record.get("left_at") or now_iso())
        if not record.get("left_at"):
            gone = {**record, "left_at": left_at, **({"removed": True} if removed else {})}
            await self._accounts.put(account, json.dumps(gone).encode())
        await self._finish_leaving(account, name, removed=removed)
        return name, left_at

    async def _finish_leaving(self, account: str, name: str, *, removed: bool = False) -> None:
        """Everything of a leaving but the cut-off; each step may be done again."""
        body = {"type": "natster.account.left", "data": {"account": account, "removed": removed}}
        await _nats.request(
            self._nc,
            endpoints.EVENTS_PUT.local(),
            json.dumps(body).encode(),
            what="the global service",
        )
        for other in await self._accounts.keys():  # their imports of its catalogs
            if other == account:
                continue
            claims = await self._resolver.lookup(other)
            if claims is None or account_claims.is_closed(claims):
                continue
            for item in account_claims.imported_catalogs(claims):
                if item.owner == account:
                    await self._drop(other, account, item.catalog)
        if name:
            await self._release_name(name, account)

    async def _cut_off(self, account: str, *, delay: float = 0.0) -> None:
        """Close a leaver's account and serving account: nats-server drops their
        connections and refuses any from then on."""
        await asyncio.sleep(delay)
        at = int(time.time())
        for key in (account, self._serving_of(account)):
            current = await self._resolver.lookup(key)
            if current is not None and not account_claims.is_closed(current):
                await self._resolver.edit(key, lambda claims: account_claims.closed(claims, at))
        log.info("cut off account %s, which left", account)

    async def _member(self, account: str) -> AccountClaims:
        """``account``'s claims, if it is a member of this hub (404 unknown, 410 left):
        one read of the resolver, no more (a cluster short of nodes answers reads slowly,
        within a request's deadline)."""
        claims = await self._resolver.lookup(account)
        if claims is None:
            raise Refused("this account is not known to the hub", 404)
        if account_claims.is_closed(claims):  # (one leaving is closed within a second)
            raise Refused("this account left the hub", 410)
        return claims

    # --- short device codes --------------------------------------------------------------
    async def device_code_add(self, subject: str, payload: bytes) -> dict[str, object]:
        """Keep a short device code's way in (client/devices.py): under the sha256 of its
        words, beside the invites (one space of words: the doorstep looks there), the
        caller's own throwaway user for the code's rendezvous, its seed sealed with a key
        the words make. Every device's JWT denies this subject."""
        account = subjects.caller_of(subject)
        request = wire.parse_request(payload, wire.DeviceCodeAddRequest)
        await self._member(account)
        now = time.time()
        if not now < request.expires_at <= now + limits.DEVICE_CODE_TTL_S + 60:
            raise Refused(f"a device code lives {limits.DEVICE_CODE_TTL_S // 60} minutes at most")
        try:
            claims = jwtlib.decode_user(request.jwt)
        except JwtError as exc:
            raise Refused(f"that is not a user JWT: {exc}") from exc
        redeem = f"{subjects.DEVICE_REDEEM}.{request.token}"
        if claims.iss != account or claims.nats.pub.allow != [redeem]:
            raise Refused("that is not a device code's user of your account", 403)
        if claims.exp is None or claims.exp > request.expires_at:
            raise Refused("a device code's user expires with the code", 403)
        value = {
            "expires_at": request.expires_at,
            "device": {
                "account": account,
                "token": request.token,
                "jwt": request.jwt,
                "sealed": request.sealed,
            },
        }
        try:  # gone by itself a minute after it expires (nobody may use it by then)
            ttl = request.expires_at - now + 60
            await self._invites.create(request.key, json.dumps(value).encode(), ttl=ttl)
        except WrongRevision as exc:  # those words are taken: the adder picks others
            raise Refused("those words are in use: make another device code", 409) from exc
        return {"added": True}

    async def device_code(self, subject: str, payload: bytes) -> dict[str, object]:
        """What a short device code's words unlock, once (then they are spent): the
        doorstep let in their holder, and every try counts against the hub."""
        self._tries.spend("hub")
        request = wire.parse_request(payload, wire.DeviceCodeRequest)
        refused = Refused("no such device code (used, expired, or never made)", 403)
        try:
            key = token_key(short_invites.canonical_words(request.words))
            entry = await self._invites.get(key)
        except (InviteError, KeyMissing) as exc:
            raise refused from exc
        try:
            value = json.loads(entry.value or b"{}")
            device = value["device"]
            fetched = wire.DeviceCodeFetched(expires_at=int(value["expires_at"]), **device)
        except (ValueError, KeyError, TypeError) as exc:
            raise refused from exc
        if entry.operation is not None or fetched.expires_at <= time.time():
            raise refused
        try:
            await self._invites.delete(key, last=entry.revision)
        except WrongRevision as exc:  # another holder of the words was first
            raise refused from exc
        log.info("a short device code of %s was redeemed", fetched.account)
        return fetched.model_dump()

    async def _drop(self, account: str, owner: str, catalog: str) -> None:
        current = await self._resolver.lookup(account)
        if current is None:
            raise Refused("that account is not known to the hub", 404)
        if not any(
            (i.owner, i.catalog) == (owner, catalog)
            for i in account_claims.imported_catalogs(current)
        ):
            return  # nothing to remove
        await self._resolver.edit(
            account, lambda claims: account_claims.without_catalog_import(claims, owner, catalog)
        )
        log.info("removed %s's import of %s/%s", account, owner, catalog)

    # --- names: one holder each on a hub -------------------------------------------------
    async def _reserve_name(self, name: str, account: str) -> None:
        """Take ``name`` for ``account``, and with it every name that looks like it
        (names.look_alikes: one key each). Atomic enough: of two racing signups for
        look-alike names, at most one holds them all; a refused one keeps none."""
        taken: list[tuple[str, int]] = []
        held = False
        try:
            for key in name_keys(name):
                try:
                    revision = await self._names.create(key, account.encode())
                except WrongRevision:  # held already: by this account is fine
                    holder = await self._names.value(key)
                    if holder is None or holder.decode() != account:
                        held = True
                        break
                else:
                    taken.append((key, revision))
        except BaseException:
            await self._give_back(taken)
            raise
        if held:
            await self._give_back(taken)
            raise _name_taken(name, await self._free_names_like(name, account))

    async def _give_back(self, taken: list[tuple[str, int]]) -> None:
        for key, revision in taken:
            with contextlib.suppress(NatsterError):
                await self._names.delete(key, last=revision)

    async def _free_names_like(self, name: str, account: str, wanted: int = 2) -> list[str]:
        """A few names like ``name`` that nobody holds now (a did-you-mean)."""
        free: list[str] = []
        for n in range(2, 2 + limits.NAME_SUGGESTION_TRIES):
            candidate = f"{name}{n}"
            if len(candidate) > limits.MAX_ACCOUNT_NAME:
                break
            holders = [await self._names.value(key) for key in name_keys(candidate)]
            if all(h is None or h.decode() == account for h in holders):
                free.append(candidate)
                if len(free) == wanted:
                    break
        return free

    async def _release_name(self, name: str, account: str, *, keep: str | None = None) -> None:
        """Give up ``name`` (but not the keys ``keep``, the account's new name, holds)."""
        kept = name_keys(keep) if keep else frozenset()
        for key in name_keys(name) - kept:
            with contextlib.suppress(StoreError, ServiceUnavailable, RequestTimeout):
                entry = await self._names.get(key)
                if entry.value and entry.value.decode() == account:
                    await self._names.delete(key, last=entry.revision)

    async def reserve_existing_names(self) -> None:
        """Accounts made before names were unique hold theirs (the first one wins); a
        store not answering now (a cluster electing) is asked again at the next start."""
        holders = {"hub": self._config.accounts["hub"]}
        try:
            for account in await self._accounts.keys():
                record = await self._record(account)
                if not record.get("left_at"):
                    holders.setdefault(str(record.get("name", "")), account)
            for name, account in holders.items():
                if name:
                    with contextlib.suppress(Refused, WrongRevision):
                        await self._reserve_name(name, account)
        except NatsterError as exc:
            log.warning("older accounts' names are not all reserved yet: %s", exc)

    async def refresh_accounts(self) -> int:
        """Re-sign every account whose exports, imports or limits are not today's standard.

        A hub started by a newer natster brings older accounts up to date this way (for
        instance the catalog export's response type); the number re-signed is returned.
        """
        try:
            keys = await self._accounts.keys()
        except NatsterError as exc:
            log.warning("accounts not brought up to date (the next start tries again): %s", exc)
            return 0
        changed = 0
        for account in keys:  # the hub's own account is a platform account: the Hub's job
            try:
                current = await self._resolver.lookup(account)
                if current is None:
                    continue
                record = await self._record(account)
                if record.get("left_at"):  # one the hub stopped while it was leaving
                    if not account_claims.is_closed(current):
                        name = str(record.get("name", ""))
                        await self._finish_leaving(
                            account, name, removed=bool(record.get("removed"))
                        )
                        await self._cut_off(account)
                        changed += 1
                    continue
                name = await self._name(account, current)
                _, made = await self._ensure_serving(account, name)
                standard = self._standard(account, name)
                if account_claims.is_standard(current, standard, self._serving_of):
                    if made:
                        changed += 1
                    continue
                await self._resign(account, standard)
            except NatsterError as exc:
                log.warning("could not bring account %s up to date: %s", account, exc)
            else:
                changed += 1
                log.info("brought account %s up to date", account)
        return changed

    async def _resign(self, account: str, standard: AccountClaims) -> None:
        """Give ``account`` the standard exports, imports and limits (its other imports,
        the catalogs it imported, are kept)."""
        await self._resolver.edit(
            account,
            functools.partial(
                account_claims.refreshed, standard=standard, exporter_of=self._serving_of
            ),
        )

    async def _name(self, account: str, claims: AccountClaims) -> str:
        """``account``'s name: the hub's record of it, else its JWT's, else "natster"."""
        return str((await self._record(account)).get("name", "")) or claims.name or "natster"

    async def _record(self, account: str) -> dict[str, str]:
        """The hub's record of ``account`` (its name, when it was made); {} if none, or if
        no replica answers within a moment (a cluster electing a leader): the account's
        JWT still names it."""
        try:
            stored = await self._accounts.value(account)
        except (ServiceUnavailable, RequestTimeout):
            return {}
        try:
            value = json.loads(stored or b"{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


def _free_alias(wanted: str, taken: set[str]) -> str:
    """``wanted``, or the first of wanted-2, wanted-3... not in ``taken`` (a valid name)."""
    if wanted not in taken:
        return wanted
    for n in range(2, 2 + len(taken) + 1):
        suffix = f"-{n}"
        candidate = wanted[: limits.MAX_CATALOG_NAME - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
    raise Refused("no free name for that catalog in their library", 409)  # unreachable


def _is_device_code(value: bytes) -> bool:
    try:
        return "device" in json.loads(value)
    except (ValueError, TypeError):
        return False


def _b64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "==")
    except (binascii.Error, ValueError) as exc:
        raise Refused("signature must be base64url") from exc


def name_keys(name: str) -> frozenset[str]:
    """The keys a name holds in the names bucket: one for each of its look-alike forms
    (case, width, composition and Unicode's confusables aside)."""
    return frozenset(hashlib.sha256(form.encode()).hexdigest() for form in look_alikes(name))


def _name_taken(name: str, free: list[str]) -> Refused:
    like = f" ({' or '.join(repr(f) for f in free)} is free)" if free else ""
    return Refused(
        f"the name {name!r} is taken on this hub (names are unique): choose another{like}",
        409,
    )


def _valid_name(name: str) -> str:
    name = name.strip()
    if not name or not name.isprintable():
        raise Refused("name must be printable text")
    return name


async def ensure_bucket(
    js: JetStreamContext, bucket: str, description: str, replicas: int = 1
) -> Bucket:
    """Open a KV bucket, creating it on first use (with ``replicas`` copies at least)."""
    return await _bucket.ensure_bucket(
        js, KeyValueConfig(bucket=bucket, description=description, replicas=replicas)
    )
