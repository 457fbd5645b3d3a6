"""``natster hub rebuild``: throw the projections away and replay the event log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import nats.js.errors
from nats.js.api import StreamInfo
from nats.js.client import JetStreamContext

from natster import events as ev
from natster import limits
from natster._nats import Client
from natster.errors import HubError

from .projections import APPLIED_KEY, PROJECTIONS
from .projector import Projector, durable_prefix
from .store import REBUILT_SUBJECT, view_bucket

log = logging.getLogger(__name__)


async def rebuild(nc: Client) -> dict[str, float]:
    """Delete every projection bucket and consumer, replay, and tell running mirrors.

    Meant to be safe with global service instances running (their projectors recreate
    the consumer, and applying is idempotent by sequence), but a replay racing a running
    instance has been seen, rarely, to leave a projection empty. So a rebuild checks its
    result (every bucket applied up to the stream's last event) and starts over if not.
    """
    js = nc.jetstream()
    began = time.monotonic()
    for _attempt in range(limits.REBUILD_ATTEMPTS):
        info = await _replay(js)
        if await _complete(js, info.state.last_seq):
            break
        log.warning("rebuild: a projection came out incomplete; starting over")
    else:
        raise HubError("the rebuild did not complete: stop the global services and run it again")
    events = info.state.messages
    await nc.publish(REBUILT_SUBJECT, b"")
    await nc.flush()
    seconds = time.monotonic() - began
    return {
        "events": events,
        "seconds": round(seconds, 3),
        "events_per_s": round(events / seconds, 1) if seconds else 0.0,
    }


async def _replay(js: JetStreamContext) -> StreamInfo:
    consumers = [c.name for c in await js.consumers_info(ev.STREAM)]
    for projection in PROJECTIONS:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_key_value(projection.bucket)
        for name in consumers:  # every incarnation's (see durable_name)
            prefix = durable_prefix(projection)
            if name.startswith(prefix) or name == prefix[:-1]:  # [:-1]: the earlier name
                with contextlib.suppress(nats.js.errors.NotFoundError):
                    await js.delete_consumer(ev.STREAM, name)
    info = await js.stream_info(ev.STREAM)
    await asyncio.gather(*(Projector(js, p).catch_up() for p in PROJECTIONS))
    return info


async def _complete(js: JetStreamContext, last_seq: int) -> bool:
    """Has every projection applied the stream up to ``last_seq``?"""
    for projection in PROJECTIONS:
        kv = await view_bucket(js, projection.bucket)
        try:
            applied = int((await kv.get(APPLIED_KEY)).value or b"0")
        except nats.js.errors.KeyNotFoundError:
            applied = 0
        if applied < last_seq:
            return False
    return True
