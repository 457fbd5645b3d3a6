"""Each instance's in-memory view of the projections and of presence.

Queries are answered from here (microseconds, whatever the load), kept current by
watching the key-value buckets. Two instances watch the same buckets, so they agree
within the time a watch update takes to arrive; after a node of a cluster dies, a watch
it held resumes within a few seconds (``watch``). A decision that writes (is this
catalog shared already?) reads the bucket itself, never only this mirror.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from nats.js.client import JetStreamContext

from natster import limits

from .bucket_watch import BucketWatch, OnEntry
from .projections import ACCOUNTS, APPLIED_KEY, SHARES, Record
from .store import PRESENCE_BUCKET

log = logging.getLogger(__name__)


class Mirror:
    def __init__(self) -> None:
        self.accounts: dict[str, Record] = {}
        self.shares: dict[str, Record] = {}  # active shares only
        self.by_owner: dict[str, set[str]] = defaultdict(set)
        self.by_target: dict[str, set[str]] = defaultdict(set)
        self.presence: dict[str, Record] = {}  # "<owner>.<catalog>" -> heartbeat record
        self.presence_rev: dict[str, int] = {}  # the KV revision last seen per presence key
        self.applied: dict[str, int] = {ACCOUNTS.name: 0, SHARES.name: 0}
        self._changed = asyncio.Condition()
        self._watches: list[BucketWatch] = []

    # --- running -------------------------------------------------------------------
    async def start(self, js: JetStreamContext) -> None:
        """Follow the buckets (which exist: ``store.ensure_all`` or a rebuild made them)."""
        for bucket, handler, revisions in (
            (ACCOUNTS.bucket, self._on_account, None),
            (SHARES.bucket, self._on_share, None),
            (PRESENCE_BUCKET, self._on_presence, self.presence_rev),
        ):
            self._watches.append(
                await BucketWatch.start(js, bucket, self._entry(bucket, handler, revisions))
            )
        for watch in self._watches:  # every bucket's existing values are in
            await asyncio.wait_for(watch.ready.wait(), limits.MIRROR_READY_S)

    async def stop(self) -> None:
        for watch in self._watches:
            await watch.stop()
        self._watches.clear()

    async def reload(self, js: JetStreamContext) -> None:
        """Start over (after a rebuild replaced the buckets)."""
        await self.stop()
        self.__init__()  # type: ignore[misc]
        await self.start(js)

    def _entry(
        self,
        bucket: str,
        handler: Callable[[str, Record | None], None],
        revisions: dict[str, int] | None,
    ) -> OnEntry:
        async def on_entry(key: str, value: bytes | None, revision: int) -> None:
            if revisions is not None:
                revisions[key] = revision
            try:
                handler(key, None if value is None else json.loads(value))
            except (ValueError, KeyError, TypeError):
                log.warning("ignoring a malformed record %s in %s", key, bucket)
            async with self._changed:
                self._changed.notify_all()

        return on_entry

    # --- updates ---------------------------------------------------------------------
    def _applied(self, projection: str, key: str, value: Any) -> bool:
        if key != APPLIED_KEY:
            return False
        if value is not None:
            self.applied[projection] = max(self.applied[projection], int(value))
        return True

    def _on_account(self, key: str, value: Record | None) -> None:
        if self._applied(ACCOUNTS.name, key, value):
            return
        if value is None or value.get("left_at"):  # one who left is known no more
            self.accounts.pop(key, None)
        else:
            self.accounts[key] = value

    def _on_share(self, key: str, value: Record | None) -> None:
        if self._applied(SHARES.name, key, value):
            return
        old = self.shares.pop(key, None)
        if old is not None:
            self.by_owner[old["owner"]].discard(key)
            self.by_target[old["target"]].discard(key)
        if value is not None and value.get("shared"):
            self.shares[key] = value
            self.by_owner[value["owner"]].add(key)
            self.by_target[value["target"]].add(key)

    def _on_presence(self, key: str, value: Record | None) -> None:
        if value is None:
            self.presence.pop(key, None)
        else:
            self.presence[key] = value

    async def wait_until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Wait (bounded) until ``done()`` holds for this mirror: read your writes."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(done), timeout)
            except TimeoutError:
                return False
        return True

    async def wait_applied(self, seq: int, projections: list[str], timeout: float) -> bool:
        """Wait until these projections have applied event ``seq`` (read your writes)."""

        return await self.wait_until(
            lambda: all(self.applied[name] >= seq for name in projections), timeout
        )

    # --- queries ---------------------------------------------------------------------
    def share(self, owner: str, catalog: str, target: str) -> Record | None:
        return self.shares.get(f"{owner}.{catalog}.{target}")

    def targets(self, owner: str, catalog: str) -> list[str]:
        prefix = f"{owner}.{catalog}."
        return [
            self.shares[k]["target"] for k in self.by_owner.get(owner, ()) if k.startswith(prefix)
        ]

    def online(self, owner: str, catalog: str) -> Record | None:
        return self.presence.get(f"{owner}.{catalog}")

    def shares_of(self, account: str) -> list[Record]:
        keys = self.by_owner.get(account, set()) | self.by_target.get(account, set())
        return [self.shares[k] for k in sorted(keys)]
