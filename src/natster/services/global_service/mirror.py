"""Each instance's in-memory view of the projections and of presence.

Queries are answered from here (microseconds, whatever the load), kept current by
watching the key-value buckets. Two instances watch the same buckets, so they agree
within the time a watch update takes to arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue

from .projections import ACCOUNTS, APPLIED_KEY, SHARES, Record
from .store import presence_bucket, view_bucket

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
        self._tasks: list[asyncio.Task[None]] = []
        self._ready: list[asyncio.Event] = []

    # --- running -------------------------------------------------------------------
    async def start(self, js: JetStreamContext) -> None:
        buckets = [
            (await view_bucket(js, ACCOUNTS.bucket), self._on_account, None),
            (await view_bucket(js, SHARES.bucket), self._on_share, None),
            (await presence_bucket(js), self._on_presence, self.presence_rev),
        ]
        for kv, handler, revisions in buckets:
            ready = asyncio.Event()
            self._ready.append(ready)
            self._tasks.append(asyncio.create_task(self._watch(kv, handler, ready, revisions)))
        for ready in self._ready:  # every bucket's existing values are in
            await asyncio.wait_for(ready.wait(), 30)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def reload(self, js: JetStreamContext) -> None:
        """Start over (after a rebuild replaced the buckets)."""
        await self.stop()
        self.__init__()  # type: ignore[misc]
        await self.start(js)

    async def _watch(
        self,
        kv: KeyValue,
        handler: Any,
        ready: asyncio.Event,
        revisions: dict[str, int] | None = None,
    ) -> None:
        watcher = await kv.watchall()
        async for entry in watcher:
            if entry is None:  # the end of the values that were already there
                ready.set()
                continue
            deleted = entry.operation in ("DEL", "PURGE") or not entry.value
            if revisions is not None:
                revisions[entry.key] = entry.revision or 0
            try:
                handler(entry.key, None if deleted else json.loads(entry.value))
            except (ValueError, KeyError, TypeError):
                log.warning("ignoring a malformed record %s in %s", entry.key, kv._name)
            async with self._changed:
                self._changed.notify_all()
            if not ready.is_set() and entry.delta == 0:
                ready.set()

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
        if value is None:
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
