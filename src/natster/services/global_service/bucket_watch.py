"""Following a key-value bucket: its current values, then every change, in order.

nats-py's ``KeyValue.watch`` is an ordered consumer with a 5 s idle heartbeat: when the
server holding that consumer dies (one node of a cluster), nats-py notices after two
missed heartbeats and makes a new one from the last sequence it saw, so 10 to 20 s
during which a mirror serves stale answers. This watch is the same ordered consumer
with a heartbeat of ``limits.WATCH_HEARTBEAT_S``: it resumes within a few seconds
(nats-py keeps retrying every two heartbeats while no new consumer can be made), and
loses nothing in between (the new consumer starts after the last sequence applied).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from nats.js.api import DeliverPolicy
from nats.js.client import JetStreamContext

from natster import limits
from natster._nats import forming, mapped
from natster._quiet import quietly

# how nats-server marks a key's end: an operation header from a client, or (2.11+) a
# marker the server placed itself when a key's TTL ran out or it was purged
_OPERATION = "KV-Operation"
_MARKER = "Nats-Marker-Reason"
_GONE = {"DEL", "PURGE", "MaxAge", "Purge", "Remove"}

# key, value (None: gone), revision
OnEntry = Callable[[str, bytes | None, int], Awaitable[None]]


log = logging.getLogger(__name__)


class BucketWatch:
    """``await BucketWatch.start(js, bucket, on_entry)``: ``on_entry`` is called for each
    current value, then each change; ``ready`` is set once the current values are in."""

    def __init__(self, bucket: str, on_entry: OnEntry) -> None:
        self.bucket = bucket
        self.ready = asyncio.Event()
        self._prefix = f"$KV.{bucket}."
        self._on_entry = on_entry
        self._sub: Any = None

    @classmethod
    async def start(cls, js: JetStreamContext, bucket: str, on_entry: OnEntry) -> BucketWatch:
        watch = cls(bucket, on_entry)

        async def subscribe() -> tuple[Any, Any]:
            with mapped(f"the {bucket} bucket"):
                sub = await js.subscribe(
                    watch._prefix + ">",
                    stream=f"KV_{bucket}",
                    cb=watch._on_message,
                    ordered_consumer=True,
                    idle_heartbeat=limits.WATCH_HEARTBEAT_S,
                    deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
                    inactive_threshold=limits.WATCH_INACTIVE_S,
                )
                return sub, await sub.consumer_info()

        # asked again while JetStream settles (a node back after an outage: "temporarily
        # unavailable" for a moment)
        watch._sub, info = await forming(subscribe)
        if info.num_pending == 0 and not info.delivered.consumer_seq:
            watch.ready.set()  # an empty bucket: nothing will come to say so
        return watch

    async def _on_message(self, msg: Any) -> None:
        headers = msg.headers or {}
        gone = (headers.get(_OPERATION) or headers.get(_MARKER)) in _GONE or not msg.data
        meta = msg.metadata
        await self._on_entry(
            msg.subject[len(self._prefix) :], None if gone else msg.data, meta.sequence.stream
        )
        if meta.num_pending == 0:
            self.ready.set()

    async def stop(self) -> None:
        if self._sub is not None:
            with quietly(log, "unsubscribing the watch"):  # stopping: the connection may be gone
                await self._sub.unsubscribe()
            self._sub = None
