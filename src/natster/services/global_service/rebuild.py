"""``natster hub rebuild``: throw the projections away and replay the event log."""

from __future__ import annotations

import asyncio
import contextlib
import time

from natster import events as ev
from natster import subjects
from natster._nats import Client, mapped
from natster.errors import StoreMissing

from .projections import PROJECTIONS
from .projector import Projector, stale_consumers


async def rebuild(nc: Client) -> dict[str, float]:
    """Delete every projection bucket and consumer, replay, and tell running mirrors.

    Safe with global service instances running: their projectors recreate the consumer
    and, since applying is idempotent by sequence, every interleaving converges.
    """
    js = nc.jetstream()
    began = time.monotonic()
    consumers = [c.name for c in await js.consumers_info(ev.STREAM)]
    for projection in PROJECTIONS:
        with contextlib.suppress(StoreMissing), mapped():
            await js.delete_key_value(projection.bucket)
        for name in stale_consumers(consumers, projection):  # every incarnation's
            with contextlib.suppress(StoreMissing), mapped():
                await js.delete_consumer(ev.STREAM, name)
    info = await js.stream_info(ev.STREAM)
    await asyncio.gather(*(Projector(js, p).catch_up() for p in PROJECTIONS))
    events = info.state.messages
    await nc.publish(subjects.REBUILT, b"")
    await nc.flush()
    seconds = time.monotonic() - began
    return {
        "events": events,
        "seconds": round(seconds, 3),
        "events_per_s": round(events / seconds, 1) if seconds else 0.0,
    }
