"""Administering a running hub from its directory: who is on it, removing someone, the
invites not yet used, and the log of who joined, was renamed, left or was removed.

What the hub's owner runs (``natster hub people``, ``natster hub remove``), with the
hub's own credentials: the ``accounts`` account (its records and names, and the account
service, which does the removing), the ``global`` account (the share projections) and
the system account (each account's connections, as nats-server reports them).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from natster import _nats, endpoints, subjects, wire
from natster import events as ev
from natster._bucket import Bucket
from natster._nats import Client, connect, mapped
from natster.errors import InviteError, KeyMissing, NatsterError, UnknownPerson, WrongRevision
from natster.hub.accounts.account_service import name_keys
from natster.hub.accounts.claims import imported_catalogs
from natster.hub.state import HubDir
from natster.security import KeyKind, is_public_key
from natster.security import jwt as jwtlib

ACCOUNT_SERVICE = "the hub's account service"
SHARES_BUCKET = "natster_view_shares"  # the global service's projection of shares


@dataclass(frozen=True)
class Person:
    """One account of the hub, as ``hub people`` shows it."""

    account: str
    name: str
    joined: str
    online: bool  # a connection of it is open now
    last_seen: str | None  # when its last connection ended (None: open, or not known)
    connections: int  # open now
    devices: int  # distinct users (machines, browsers) seen connected lately
    shares: int  # catalogs it shares, counted per person shared with
    imports: int  # catalogs it imported

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


async def people(hub: HubDir) -> list[Person]:
    """Every account on the hub (not the hub's own), by name; those who left are not."""
    state = hub.require_running()
    trust = hub.trust()
    accounts_nc = await connect(state.local_url, hub.creds("accounts"), name="admin", trust=trust)
    try:
        records = await _records(accounts_nc)
    finally:
        await accounts_nc.close()
    shares = await _shares_given(hub, state.local_url)
    sys_nc = await connect(state.local_url, hub.creds("sys"), name="admin-sys", trust=trust)
    try:
        found = []
        for account, record in records.items():
            claims = await _claims(sys_nc, account)
            seen = await _connections(sys_nc, account)
            found.append(
                Person(
                    account=account,
                    name=str(record.get("name", "")),
                    joined=str(record.get("created_at", "")),
                    online=seen["open"] > 0,
                    last_seen=seen["last"],
                    connections=seen["open"],
                    devices=seen["users"],
                    shares=shares[account],
                    imports=len(imported_catalogs(claims)) if claims is not None else 0,
                )
            )
    finally:
        await sys_nc.close()
    return sorted(found, key=lambda p: (p.name.casefold(), p.account))


@dataclass(frozen=True)
class PendingInvite:
    """An invite made and not yet used (``id``: the start of its key, its token's sha256)."""

    id: str
    created_at: int | None
    expires_at: int

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


INVITE_ID_CHARS = 12  # of the key, as `hub invites` shows an invite


async def invites(hub: HubDir) -> list[PendingInvite]:
    """The invites not used yet and not expired, oldest first (device codes, which are
    their accounts' own, are not listed)."""
    state = hub.require_running()
    nc = await connect(state.local_url, hub.creds("accounts"), name="admin", trust=hub.trust())
    try:
        bucket = await Bucket.open(nc.jetstream(), subjects.INVITES_BUCKET)
        found = [i for key in await bucket.keys() if (i := await _invite(bucket, key))]
    finally:
        await nc.close()
    return sorted(found, key=lambda i: (i.created_at or 0, i.id))


async def revoke_invite(hub: HubDir, invite_id: str) -> PendingInvite:
    """End the unused invite whose key starts with ``invite_id`` (4 characters or more)."""
    wanted = invite_id.strip().lower()
    if len(wanted) < 4:
        raise InviteError("name an invite by 4 or more characters of its id (`hub invites`)")
    state = hub.require_running()
    nc = await connect(state.local_url, hub.creds("accounts"), name="admin", trust=hub.trust())
    try:
        bucket = await Bucket.open(nc.jetstream(), subjects.INVITES_BUCKET)
        keys = [k for k in await bucket.keys() if k.startswith(wanted)]
        matching = [(k, i) for k in keys if (i := await _invite(bucket, k))]
        if len(matching) != 1:
            what = "no unused invite has" if not matching else "several invites have"
            raise InviteError(f"{what} an id starting with {wanted!r}: see `natster hub invites`")
        key, invite = matching[0]
        try:
            entry = await bucket.get(key)
            await bucket.delete(key, last=entry.revision)
        except (KeyMissing, WrongRevision) as exc:  # used, this very moment
            raise InviteError("that invite was just used: see `natster hub people`") from exc
    finally:
        await nc.close()
    return invite


async def _invite(bucket: Bucket, key: str) -> PendingInvite | None:
    try:
        record = json.loads(await bucket.value(key) or b"null")
        expires_at = int(record["expires_at"])
    except (NatsterError, ValueError, TypeError, KeyError):
        return None
    if "device" in record or expires_at <= time.time():
        return None
    created = record.get("created_at")
    return PendingInvite(
        id=key[:INVITE_ID_CHARS],
        created_at=created if isinstance(created, int) else None,
        expires_at=expires_at,
    )


@dataclass(frozen=True)
class Logged:
    """One line of ``hub log``: when, what, to which account (its name where known)."""

    at: str
    what: str  # "joined", "renamed", "left", "removed by the hub"
    account: str
    name: str

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


LOG_SCAN = 5000  # events looked at, from the newest, for `hub log`


async def account_log(hub: HubDir, limit: int = 50) -> list[Logged]:
    """The newest ``limit`` account events of the event log (joins, renames, leavings,
    removals), newest first: who, when, as the log holds them."""
    state = hub.require_running()
    nc = await connect(state.local_url, hub.creds("global"), name="admin", trust=hub.trust())
    try:
        js = nc.jetstream()
        with mapped("the event log"):
            last = (await js.stream_info(ev.STREAM)).state.last_seq
        events: list[ev.CloudEvent] = []
        for seq in range(last, max(0, last - LOG_SCAN), -1):
            try:
                with mapped("the event log"):
                    raw = await js.get_msg(ev.STREAM, seq)
                event = ev.parse_event(raw.data or b"")
            except (NatsterError, ev.EventError):
                continue  # gone (a limit), or not an event natster reads
            if event.type in (ev.ACCOUNT_INITIALIZED, ev.ACCOUNT_LEFT):
                events.append(event)
        return list(reversed(_lines(list(reversed(events)))))[:limit]
    finally:
        await nc.close()


def _lines(events: list[ev.CloudEvent]) -> list[Logged]:
    """Account events, oldest first, as log lines: a second name is a rename; one who
    left is named as it was called."""
    names: dict[str, str] = {}
    lines: list[Logged] = []
    for event in events:
        account = str(event.data["account"])
        if event.type == ev.ACCOUNT_INITIALIZED:
            name = str(event.data["name"])
            known = names.get(account)
            if known == name:
                continue  # announced again, unchanged
            lines.append(
                Logged(event.time, "joined" if known is None else "renamed", account, name)
            )
            names[account] = name
        else:
            what = "removed by the hub" if event.data.get("removed") else "left"
            lines.append(Logged(event.time, what, account, names.get(account, "")))
    return lines


async def remove(hub: HubDir, who: str) -> wire.LeaveReply:
    """Remove ``who`` (a name or an account key) from the hub: as a leaving, and cut off
    at once (AccountService.remove)."""
    state = hub.require_running()
    config = hub.load()
    nc = await connect(state.local_url, hub.creds("accounts"), name="admin", trust=hub.trust())
    try:
        account = who if is_public_key(who, KeyKind.ACCOUNT) else await _holder(nc, who)
        subject = subjects.for_account(
            subjects.accounts_listen(endpoints.ACCOUNT_REMOVE.name), config.accounts["accounts"]
        )
        body = wire.AccountRemoveRequest(account=account)
        data = await _nats.request(nc, subject, body.encode(), what=ACCOUNT_SERVICE)
    finally:
        await nc.close()
    return endpoints.ACCOUNT_REMOVE.parse(data, ACCOUNT_SERVICE)


async def _holder(nc: Client, name: str) -> str:
    names = await Bucket.open(nc.jetstream(), subjects.NAMES_BUCKET)
    for key in sorted(name_keys(name)):
        holder = await names.value(key)
        if holder:
            return holder.decode()
    raise UnknownPerson(f"nobody is called {name!r} on this hub (see `natster hub people`)")


async def _records(nc: Client) -> dict[str, dict[str, Any]]:
    """The account service's records of the accounts still on the hub."""
    bucket = await Bucket.open(nc.jetstream(), subjects.ACCOUNTS_BUCKET)
    found: dict[str, dict[str, Any]] = {}
    for account in await bucket.keys():
        try:
            record = json.loads(await bucket.value(account) or b"{}")
        except ValueError:
            continue
        if isinstance(record, dict) and not record.get("left_at"):
            found[account] = record
    return found


async def _shares_given(hub: HubDir, url: str) -> Counter[str]:
    """Active shares per owner, from the global service's projection."""
    nc = await connect(url, hub.creds("global"), name="admin-global", trust=hub.trust())
    counted: Counter[str] = Counter()
    try:
        bucket = await Bucket.open(nc.jetstream(), SHARES_BUCKET)
        for key in await bucket.keys():
            try:
                record = json.loads(await bucket.value(key) or b"{}")
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("shared") is True:
                counted[str(record.get("owner"))] += 1
    finally:
        await nc.close()
    return counted


async def _claims(nc: Client, account: str) -> jwtlib.AccountClaims | None:
    subject = subjects.SYS_CLAIMS_LOOKUP.format(account=account)
    try:
        token = (await _nats.request_raw(nc, subject, b"", what="nats-server")).decode()
        return jwtlib.decode_account(token.strip())
    except (NatsterError, UnicodeDecodeError):
        return None


async def _connections(nc: Client, account: str) -> dict[str, Any]:
    """Open connections of ``account``, when its last one ended, and how many of its
    users (devices) nats-server remembers connected (this node's view)."""
    subject = f"$SYS.REQ.ACCOUNT.{account}.CONNZ"
    options = json.dumps({"state": 2, "auth": True, "limit": 1024}).encode()  # open and closed
    try:
        answer = json.loads(await _nats.request_raw(nc, subject, options, what="nats-server"))
        rows = answer["data"]["connections"] or []
    except (NatsterError, ValueError, KeyError, TypeError):
        rows = []
    opened = [r for r in rows if isinstance(r, dict) and r.get("stop") is None]
    stops = sorted(str(r["stop"]) for r in rows if isinstance(r, dict) and r.get("stop"))
    users = {r.get("authorized_user") for r in rows if isinstance(r, dict)} - {None}
    last = None if opened or not stops else stops[-1][:19] + "Z"
    return {"open": len(opened), "last": last, "users": len(users)}
