"""Feeding a projection from the event stream through its own durable consumer.

Order matters (an unshare after a share is not a share after an unshare), and several
global service instances may run the same projector. The consumer's ``max_ack_pending``
equals the batch size and a batch is acknowledged, with one ack-all of its last
message, only once all of it is applied: the next batch, whichever instance fetches
it, starts after this one is written, and it is a whole batch (per-message acks would
hand a competing instance one message at a time). One ordered history, however many
instances. A bad event is logged and acknowledged with its batch, never redelivered,
never blocking the ones behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from natster import events as ev
from natster import limits
from natster._bucket import Bucket
from natster._nats import forming, mapped
from natster._quiet import quietly
from natster.errors import (
    NatsterError,
    RequestTimeout,
    ServiceUnavailable,
    StoreError,
    StoreMissing,
    WrongRevision,
)

from .projections import APPLIED_KEY, Projection, Record
from .store import view_bucket

log = logging.getLogger(__name__)


def durable_prefix(projection: Projection) -> str:
    return f"proj-{projection.name}-"


async def durable_name(js: JetStreamContext, projection: Projection) -> str:
    """The projection's consumer for the current incarnation of its bucket.

    A rebuild deletes the bucket and the consumer and makes both anew. Were the new
    consumer named like the old one, an instance's late ack-all from the old consumer
    would acknowledge the new one's first messages, which then never reach the new
    bucket. Naming the consumer after the bucket's creation time makes such an ack go
    to a consumer that no longer exists.
    """
    info = await js.stream_info(f"KV_{projection.bucket}")
    created = info.created
    if created is None:  # a server too old to say: one name for every incarnation
        return durable_prefix(projection) + "0"
    return durable_prefix(projection) + str(int(created.timestamp() * 1_000_000))


def apply_events(
    projection: Projection,
    events: Iterable[tuple[int, ev.CloudEvent | None]],
    records: dict[str, Record],
) -> dict[str, Record]:
    """Apply ``(sequence, event)`` in order to ``records`` (in place); returns the records
    that changed. An event that cannot be applied is logged and skipped."""
    changed: dict[str, Record] = {}
    for seq, event in events:
        if event is None:
            continue
        try:
            for key in projection.keys(event):
                updated = projection.apply(event, seq, records.get(key))
                if updated is not None:
                    records[key] = changed[key] = updated
        except Exception:
            log.exception(
                "projection %s: event %d could not be applied; skipped", projection.name, seq
            )
    return changed


def stale_consumers(names: list[str], projection: Projection, keep: str = "") -> list[str]:
    """Of the event log's consumers ``names``, the projection's other than ``keep``."""
    prefix = durable_prefix(projection)
    return [n for n in names if (n.startswith(prefix) or n == prefix[:-1]) and n != keep]


class Projector:
    def __init__(
        self,
        js: JetStreamContext,
        projection: Projection,
        *,
        quick: JetStreamContext | None = None,
    ) -> None:
        self._js = js
        self._quick = quick or js  # asks with a short timeout (limits.LEADER_TRY_S)
        self.projection = projection
        self._sub: Any = None
        self._durable = ""  # the consumer's name, once subscribed
        self._stale_left = False  # earlier incarnations' consumers may still be there
        self._kv: Bucket | None = None

    async def _subscribe(self) -> None:
        self._kv = await view_bucket(self._js, self.projection.bucket)
        self._sub, self._durable = await forming(self._pull_subscribe)  # slow re-forming
        self._stale_left = True
        await self._tidy()

    async def _tidy(self) -> None:
        """Drop earlier incarnations' consumers if that is still to do. Housekeeping: a
        failure (a cluster still forming answers slowly) never stops the projection; it
        is tried again after the next batch, until done."""
        if not self._stale_left:
            return
        try:
            await self._drop_stale_consumers(keep=self._durable)
        except NatsterError as exc:
            log.info("projection %s: earlier consumers kept: %s", self.projection.name, exc)
            return
        self._stale_left = False

    async def _pull_subscribe(self) -> tuple[Any, str]:
        """The subscription to this bucket incarnation's consumer, and its name."""
        durable = await durable_name(self._js, self.projection)
        # a new consumer starts after what the bucket already holds: nothing for a new
        # bucket, everything up to its mark for one restored from a snapshot (hub/growth)
        applied = await self._applied()
        where = (
            {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": applied + 1}
            if applied
            else {"deliver_policy": DeliverPolicy.ALL}
        )
        with mapped("the event log"):
            sub = await self._js.pull_subscribe(
                f"{ev.SUBJECT_PREFIX}.>",
                durable=durable,
                stream=ev.STREAM,
                config=ConsumerConfig(
                    ack_policy=AckPolicy.ALL,
                    max_ack_pending=limits.PROJECTION_BATCH,
                    ack_wait=limits.PROJECTION_ACK_WAIT_S,
                    **where,
                ),
            )
        return sub, durable

    async def _applied(self) -> int:
        """The last event sequence the bucket holds the effect of (0: none)."""
        try:
            return int(await self._bucket().value(APPLIED_KEY) or b"0")
        except ValueError:
            return 0

    async def _drop_stale_consumers(self, keep: str) -> None:
        """Delete this projection's consumers other than ``keep``, those of earlier bucket
        incarnations (a rebuilt or restored bucket has a new one): nothing reads them."""
        with mapped("the event log"):
            names = [c.name for c in await self._js.consumers_info(ev.STREAM)]
        for name in stale_consumers(names, self.projection, keep=keep):
            with contextlib.suppress(StoreMissing), mapped("the event log"):
                await self._js.delete_consumer(ev.STREAM, name)

    async def run(self, stop: asyncio.Event, paused: Callable[[], bool] = lambda: False) -> None:
        """Apply events until ``stop``; survives the consumer or bucket being recreated.
        While ``paused()`` (a rebuild replays the log: rebuild.py) it holds off, and then
        subscribes anew to the rebuilt bucket's consumer."""
        loop = asyncio.get_running_loop()
        failing_since: float | None = None
        while not stop.is_set():
            if paused():
                await self._reset()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.2)
                continue
            try:
                if self._sub is None:
                    await self._subscribe()
                await self.step(timeout=1.0)
                failing_since = None
                await self._tidy()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("projection %s: %s; retrying", self.projection.name, exc)
                failing_since = failing_since or loop.time()
                if loop.time() - failing_since > limits.PROJECTION_RIDE_OUT_S:
                    failing_since = None
                    await self._remake()
                elif not isinstance(exc, ServiceUnavailable) or await self._gone():
                    await self._reset()
                # else nobody answered a fetch: the consumer is electing a leader, and
                # the next fetch reaches the new one (a new subscription would ask the
                # leaderless stream and consumer for their info, 5 s each)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)

    def _bucket(self) -> Bucket:
        if self._kv is None:  # opened with the subscription, before any step
            raise StoreMissing(f"projection {self.projection.name} is not subscribed yet")
        return self._kv

    async def _reset(self) -> None:
        if self._sub is not None:
            with quietly(log, "unsubscribing a projection"):
                await self._sub.unsubscribe()
        self._sub = None

    async def _gone(self) -> bool:
        """Whether the consumer was deleted (not merely without a leader just now)."""
        if not self._durable:
            return True
        try:
            with mapped("the event log"):
                await self._quick.consumer_info(ev.STREAM, self._durable)
        except StoreMissing:
            return True
        except NatsterError:
            return False  # leaderless, or slow: not known to be gone
        return False

    async def _remake(self) -> None:
        """The consumer answered nothing for ``PROJECTION_RIDE_OUT_S``: longer than any
        election, so its group is stuck without a leader (seen when a replica never
        caught up and the leader died). Delete it; the next subscription makes it anew,
        starting after the bucket's mark. The same name is safe here, unlike after a
        rebuild: the bucket is the same one, and a batch is acknowledged only once the
        bucket holds it, so a late ack-all names events the bucket has."""
        await self._reset()
        try:
            with mapped("the event log"):
                name = self._durable or await durable_name(self._js, self.projection)
                await self._js.delete_consumer(ev.STREAM, name)
            log.warning("projection %s: consumer %s made anew", self.projection.name, name)
        except NatsterError as exc:  # the hub lost its quorum too: asked again later
            log.warning("projection %s: consumer not made anew: %s", self.projection.name, exc)

    async def catch_up(self) -> int:
        """Apply everything in the stream now; returns how many events this call applied.

        Done only when the consumer has nothing pending and nothing unacknowledged: an
        empty fetch alone may just mean another instance holds the current batch.
        """
        if self._sub is None:
            await self._subscribe()
        total = 0
        while True:
            count = await forming(lambda: self.step(timeout=0.2))  # rides out an election
            total += count
            if count == 0:
                with mapped("the event log"):
                    info = await self._sub.consumer_info()
                if info.num_pending == 0 and info.num_ack_pending == 0:
                    return total

    async def step(self, timeout: float) -> int:
        """Fetch and apply one batch; returns its size (0 when there was nothing)."""
        try:
            with mapped("the event log"):
                messages = await self._sub.fetch(limits.PROJECTION_BATCH, timeout=timeout)
        except RequestTimeout:
            return 0
        if not messages:
            return 0
        parsed: list[tuple[Any, int, ev.CloudEvent | None]] = []
        for message in messages:
            seq = message.metadata.sequence.stream
            try:
                parsed.append((message, seq, ev.parse_event(message.data)))
            except ev.EventError as exc:
                log.error(  # noqa: TRY400 (the reason is in the message; no traceback)
                    "projection %s: event %d is malformed (%s); skipped for good",
                    self.projection.name,
                    seq,
                    exc,
                )
                parsed.append((message, seq, None))
        for _ in range(limits.PROJECTION_CAS_TRIES):
            try:
                await self._apply(parsed)
                break
            except WrongRevision:  # another instance wrote these keys meanwhile: again,
                continue  # on what it wrote (applying is idempotent by sequence)
        else:
            raise StoreError(f"projection {self.projection.name}: its keys kept changing")
        await parsed[-1][0].ack()  # ack-all: the whole batch at once
        return len(parsed)

    async def _apply(self, parsed: list[tuple[Any, int, ev.CloudEvent | None]]) -> None:
        """Apply a batch; every write is a compare-and-set on the revision it was computed
        from, so a late write (an instance that was slow, or whose batch was redelivered
        to another meanwhile) never puts back an older record or an older mark."""
        kv = self._bucket()
        loaded = await self._load(parsed)
        records = {key: record for key, (record, _) in loaded.items() if record is not None}
        changed = apply_events(self.projection, ((seq, e) for _, seq, e in parsed), records)
        await asyncio.gather(
            *(
                kv.update(key, json.dumps(value).encode(), last=loaded[key][1])
                for key, value in changed.items()
            )
        )
        stored, revision = await kv.revision(APPLIED_KEY)
        try:
            applied = int(stored or b"0")
        except ValueError:
            applied = 0
        if applied < parsed[-1][1]:  # the mark only moves forward
            await kv.update(APPLIED_KEY, str(parsed[-1][1]).encode(), last=revision)

    async def _load(
        self, parsed: list[tuple[Any, int, ev.CloudEvent | None]]
    ) -> dict[str, tuple[Record | None, int]]:
        """Each key the batch touches: its record (None if none) and its revision."""
        keys = {k for _, _, e in parsed if e is not None for k in self.projection.keys(e)}
        kv = self._bucket()

        async def get(key: str) -> tuple[str, tuple[Record | None, int]]:
            stored, revision = await kv.revision(key)
            return key, (json.loads(stored) if stored else None, revision)

        return dict(await asyncio.gather(*(get(key) for key in keys)))
