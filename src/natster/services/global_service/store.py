"""The global service's JetStream objects: the event stream and the key-value buckets."""

from __future__ import annotations

import dataclasses
from typing import Any

from nats.js.api import DiscardPolicy, KeyValueConfig, RePublish, StorageType, StreamConfig
from nats.js.client import JetStreamContext

from natster import events as ev
from natster import limits, subjects
from natster._bucket import Bucket, ensure_bucket
from natster._nats import ensure_replicas, forming, mapped
from natster.errors import StoreMissing

from .projections import PROJECTIONS

PRESENCE_BUCKET = subjects.PRESENCE_BUCKET
OTC_BUCKET = subjects.OTC_BUCKET


async def ensure_stream(js: JetStreamContext, replicas: int = 1) -> None:
    """The event log, with ``replicas`` copies (more if it already has them)."""
    await forming(lambda: _ensure_stream(js, replicas))


async def _ensure_stream(js: JetStreamContext, replicas: int) -> None:
    config = StreamConfig(
        name=ev.STREAM,
        subjects=[f"{subjects.EVENTS_PREFIX}.>"],
        storage=StorageType.FILE,
        duplicate_window=120,
        max_msg_size=limits.MAX_REQUEST_BYTES,
        description="natster: every state change, as CloudEvents",
        num_replicas=replicas,
        # the truth is never cut short: when full, new events are refused, none dropped
        max_bytes=limits.EVENT_LOG_MAX_BYTES,
        discard=DiscardPolicy.NEW,
    )
    try:
        with mapped():
            info = await js.stream_info(ev.STREAM)
    except StoreMissing:
        with mapped():
            await js.add_stream(config)
    else:
        old = info.config
        if old.max_bytes != config.max_bytes or old.discard != config.discard:
            with mapped():  # a log made before its limits were set
                await js.update_stream(
                    dataclasses.replace(old, max_bytes=config.max_bytes, discard=config.discard)
                )
    await ensure_replicas(js, ev.STREAM, replicas)


async def _replicas(js: JetStreamContext) -> int:
    """The hub's replication, as the event log has it: every bucket keeps as many copies
    (so a bucket made again, by a rebuild, keeps them too)."""
    with mapped():
        info = await js.stream_info(ev.STREAM)
    return info.config.num_replicas or 1


async def _bucket(js: JetStreamContext, name: str, description: str, **config: Any) -> Bucket:
    """A bucket of the global service: one value per key, as many copies as the log."""
    return await ensure_bucket(
        js,
        KeyValueConfig(
            bucket=name,
            history=1,
            description=description,
            replicas=await _replicas(js),
            **config,
        ),
    )


async def view_bucket(js: JetStreamContext, name: str) -> Bucket:
    return await _bucket(js, name, "natster projection")


async def presence_bucket(js: JetStreamContext) -> Bucket:
    return await _bucket(
        js,
        PRESENCE_BUCKET,
        "natster: catalogs online (per-key TTL)",
        limit_marker_ttl=limits.PRESENCE_MARKER_TTL_S,
        republish=RePublish(
            src=subjects.kv_subject(PRESENCE_BUCKET, ">"), dest=subjects.PRESENCE_REPUBLISH
        ),
    )


async def otc_bucket(js: JetStreamContext) -> Bucket:
    return await _bucket(js, OTC_BUCKET, "natster: one-time codes")


async def signin_bucket(js: JetStreamContext) -> Bucket:
    return await _bucket(
        js,
        subjects.SIGNIN_BUCKET,
        "natster: browsers waiting to be signed in",
        ttl=limits.SIGNIN_TTL_S,  # every record goes with its code
    )


async def ensure_all(js: JetStreamContext, replicas: int = 1) -> None:
    await ensure_stream(js, replicas)
    for projection in PROJECTIONS:
        await view_bucket(js, projection.bucket)
    await presence_bucket(js)
    await otc_bucket(js)
    await signin_bucket(js)
