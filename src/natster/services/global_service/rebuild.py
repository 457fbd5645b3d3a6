"""``natster hub rebuild``: throw the projections away and replay the event log.

The replay reads the log once, applies every event in memory (the projections' own
``apply``, in stream order) and writes each resulting record once, many at a time,
then the ``_applied`` mark: a record changed a hundred times is written once, and no
record is read back. Meanwhile the running instances' projectors hold off (the rebuild
says ``natster.internal.rebuilding`` every few seconds); afterwards each subscribes
anew, its consumer starting after the mark, so events written during the rebuild are
applied by them. Should an instance not hold off (it missed the word), its writes are
compare-and-set on what it read and skip anything older than a record's sequence, so
the buckets still converge.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from natster import events as ev
from natster import limits, subjects
from natster._nats import Client, mapped
from natster._quiet import quietly
from natster.errors import RequestTimeout, StoreMissing

from .projections import APPLIED_KEY, PROJECTIONS, Record
from .projector import apply_events, stale_consumers
from .store import view_bucket

log = logging.getLogger(__name__)


async def rebuild(nc: Client) -> dict[str, float]:
    """Delete every projection bucket and consumer, replay, and tell running instances."""
    js = nc.jetstream()
    began = time.monotonic()
    async with _holding_off(nc):
        await asyncio.sleep(limits.REBUILD_SETTLE_S)  # a batch in flight lands first
        with mapped("the event log"):
            consumers = [c.name for c in await js.consumers_info(ev.STREAM)]
        for projection in PROJECTIONS:
            with contextlib.suppress(StoreMissing), mapped():
                await js.delete_key_value(projection.bucket)
            for name in stale_consumers(consumers, projection):  # every incarnation's
                with contextlib.suppress(StoreMissing), mapped():
                    await js.delete_consumer(ev.STREAM, name)
        with mapped("the event log"):
            last = (await js.stream_info(ev.STREAM)).state.last_seq
        records = await _replay(js, last)
        for projection in PROJECTIONS:
            await _write(js, projection.bucket, records[projection.name], last)
    with mapped():
        await nc.publish(subjects.REBUILT, b"")
        await nc.flush()
    seconds = time.monotonic() - began
    return {
        "events": last,
        "seconds": round(seconds, 3),
        "events_per_s": round(last / seconds, 1) if seconds else 0.0,
    }


@contextlib.asynccontextmanager
async def _holding_off(nc: Client) -> AsyncIterator[None]:
    """Tell the running instances a rebuild runs, every few seconds while it does."""

    async def say() -> None:
        while True:
            with quietly(log, "saying a rebuild runs"):  # a word missed: they converge anyway
                await nc.publish(subjects.REBUILDING, b"")
                await nc.flush()
            await asyncio.sleep(limits.REBUILD_HEARTBEAT_S)

    saying = asyncio.create_task(say())
    try:
        yield
    finally:
        saying.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await saying


async def _replay(js: JetStreamContext, last: int) -> dict[str, dict[str, Record]]:
    """Every projection's records after applying events 1..``last`` in order."""
    records: dict[str, dict[str, Record]] = {p.name: {} for p in PROJECTIONS}
    if not last:
        return records
    with mapped("the event log"):
        sub = await js.pull_subscribe(
            f"{ev.SUBJECT_PREFIX}.>",
            stream=ev.STREAM,
            config=ConsumerConfig(
                ack_policy=AckPolicy.NONE,
                deliver_policy=DeliverPolicy.ALL,
                inactive_threshold=60.0,
            ),
        )
        name = (await sub.consumer_info()).name
    try:
        seq = 0
        while seq < last:
            try:
                with mapped("the event log"):
                    messages = await sub.fetch(limits.REBUILD_READ_BATCH, timeout=2.0)
            except RequestTimeout:
                continue
            batch: list[tuple[int, ev.CloudEvent | None]] = []
            for message in messages:
                seq = message.metadata.sequence.stream
                if seq > last:
                    break
                batch.append((seq, _parsed(message.data, seq)))
            for projection in PROJECTIONS:
                apply_events(projection, batch, records[projection.name])
    finally:
        with quietly(log, "unsubscribing from the event log"):
            await sub.unsubscribe()
        with quietly(log, "deleting the rebuild's consumer"):  # else nats-server drops it once idle
            await js.delete_consumer(ev.STREAM, name)
    return records


def _parsed(data: bytes, seq: int) -> ev.CloudEvent | None:
    try:
        return ev.parse_event(data)
    except ev.EventError as exc:
        log.error("event %d is malformed (%s); skipped for good", seq, exc)  # noqa: TRY400
        return None


async def _write(js: JetStreamContext, bucket: str, records: dict[str, Record], last: int) -> None:
    """A new bucket holding ``records``, then its mark: applied up to ``last``."""
    kv = await view_bucket(js, bucket)
    limit = asyncio.Semaphore(limits.REBUILD_WRITES)

    async def put(key: str, record: Record) -> None:
        async with limit:
            await kv.put(key, json.dumps(record).encode())

    await asyncio.gather(*(put(key, record) for key, record in records.items()))
    await kv.put(APPLIED_KEY, str(last).encode())
