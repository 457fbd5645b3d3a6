"""Administering a running hub from its directory: who is on it, and removing someone.

What the hub's owner runs (``natster hub people``, ``natster hub remove``), with the
hub's own credentials: the ``accounts`` account (its records and names, and the account
service, which does the removing), the ``global`` account (the share projections) and
the system account (each account's connections, as nats-server reports them).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from natster import _nats, endpoints, subjects, wire
from natster._bucket import Bucket
from natster._nats import Client, connect
from natster.errors import NatsterError, UnknownPerson
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
