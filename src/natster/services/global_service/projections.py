"""Projections: how each event changes the derived state. Pure functions, no I/O.

A projection maps an event to the keys it touches and their new records. Every record
carries ``seq``, the stream sequence of the last event applied to it; an event whose
sequence is not newer is skipped, so redelivery and replay never count twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from natster import events as ev

Record = dict[str, Any]


@dataclass(frozen=True)
class Projection:
    name: str
    bucket: str
    keys: Callable[[ev.CloudEvent], list[str]]
    apply: Callable[[ev.CloudEvent, int, Record | None], Record | None]


def share_key(owner: str, catalog: str, target: str) -> str:
    return f"{owner}.{catalog}.{target}"


# --- per account: name, initialized at, bound login -----------------------------------


def _account_keys(event: ev.CloudEvent) -> list[str]:
    if event.type == ev.ACCOUNT_INITIALIZED:
        return [event.data["account"]]
    if event.type in (ev.CONTEXT_BOUND, ev.ACCOUNT_BLOCKED, ev.ACCOUNT_UNBLOCKED):
        return [event.data["account"]]
    if event.type == ev.ACCOUNT_LEFT:
        return [event.data["account"]]
    return []


def _apply_account(event: ev.CloudEvent, seq: int, record: Record | None) -> Record | None:
    if record is not None and record["seq"] >= seq:
        return None  # already applied
    if event.type == ev.ACCOUNT_LEFT:  # a tombstone: no name, and never initialized again
        return {"account": event.data["account"], "left_at": event.time, "seq": seq}
    if record is not None and record.get("left_at"):
        return None  # what came after the leaving (it did not: the log is in order)
    if event.type == ev.ACCOUNT_INITIALIZED:
        if record is not None:  # announced again: the account's name may have changed
            return {**record, "name": event.data["name"], "seq": seq}
        return {
            "account": event.data["account"],
            "name": event.data["name"],
            "initialized_at": event.time,
            "bound_login": None,
            "seq": seq,
        }
    if event.type in (ev.ACCOUNT_BLOCKED, ev.ACCOUNT_UNBLOCKED) and record is not None:
        blocked = set(record.get("blocked", []))
        if event.type == ev.ACCOUNT_BLOCKED:
            blocked.add(event.data["other"])
        else:
            blocked.discard(event.data["other"])
        return {**record, "blocked": sorted(blocked), "seq": seq}
    if event.type == ev.CONTEXT_BOUND and record is not None:
        return {
            **record,
            "bound_login": {"client": event.data["client"], "at": event.time},
            "seq": seq,
        }
    return None


ACCOUNTS = Projection("accounts", "natster_view_accounts", _account_keys, _apply_account)


# --- per share (owner, catalog, target): shared, imported --------------------------------


def _share_keys(event: ev.CloudEvent) -> list[str]:
    data = event.data
    if event.type in (ev.CATALOG_SHARED, ev.CATALOG_UNSHARED, ev.CATALOG_DECLINED):
        return [share_key(data["owner"], data["catalog"], data["target"])]
    if event.type in (ev.CATALOG_IMPORTED, ev.CATALOG_FORGOTTEN):
        return [share_key(data["owner"], data["catalog"], data["importer"])]
    if event.type == ev.ACCOUNT_LEFT:
        return [share_key(s["owner"], s["catalog"], s["target"]) for s in data["shares"]]
    return []


def _apply_share(event: ev.CloudEvent, seq: int, record: Record | None) -> Record | None:
    if record is not None and record["seq"] >= seq:
        return None
    data = event.data
    if event.type == ev.CATALOG_SHARED:
        if record is not None and record["shared"]:
            return {**record, "seq": seq}  # shared again: the first share stands
        shared = {
            "owner": data["owner"],
            "catalog": data["catalog"],
            "target": data["target"],
            "shared": True,
            "shared_at": event.time,
            "imported_at": None,
            "seq": seq,
        }
        restore = record.get("restore_as") if record is not None else None
        if restore:  # imported once, then unshared: back in their library, not the inbox
            shared.update(imported_at=event.time, alias=restore)
        return shared
    if event.type == ev.ACCOUNT_LEFT and record is None:
        return None  # the log never shared it: nothing ended
    if event.type in (ev.CATALOG_UNSHARED, ev.CATALOG_DECLINED, ev.ACCOUNT_LEFT):
        # A tombstone, not a delete: it keeps ``seq`` so a replayed older share is skipped.
        ended = record if event.type == ev.ACCOUNT_LEFT and record is not None else data
        tombstone = {
            "owner": ended["owner"],
            "catalog": ended["catalog"],
            "target": ended["target"],
            "shared": False,
            "shared_at": None,
            "imported_at": None,
            "seq": seq,
        }
        if event.type == ev.CATALOG_UNSHARED and record is not None and record["imported_at"]:
            # they accepted it once: a share again restores it, under the same name
            tombstone["restore_as"] = record.get("alias") or record["catalog"]
        return tombstone
    if event.type == ev.CATALOG_IMPORTED and record is not None and record["shared"]:
        alias = data.get("alias") or record.get("alias")
        imported_at = record["imported_at"] or event.time
        return {**record, "imported_at": imported_at, "alias": alias, "seq": seq}
    if event.type == ev.CATALOG_FORGOTTEN and record is not None and record["shared"]:
        return {**record, "imported_at": None, "seq": seq}  # in the inbox again
    return None


SHARES = Projection("shares", "natster_view_shares", _share_keys, _apply_share)

PROJECTIONS = (ACCOUNTS, SHARES)
APPLIED_KEY = "_applied"  # in each bucket: the last stream sequence fully applied
