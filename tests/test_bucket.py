"""A bucket call rides out a moment with nobody to take it (a cluster electing a leader
looks so to a client: "no responders"), and past that moment says "try again"."""

from __future__ import annotations

import asyncio
import time

import pytest
from nats.js.api import KeyValueConfig

from natster import _nats, limits
from natster._bucket import ensure_bucket
from natster.errors import ServiceUnavailable, WrongRevision

from .conftest import RunningHub

CONFIG = KeyValueConfig(bucket="natster_test_ride", history=1, direct=True)


async def test_a_bucket_call_waits_out_a_moment_without_its_stream(
    hub: RunningHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    nc = await _nats.connect(
        hub.info.local_url, hub.dir.creds("accounts"), name="t", trust=hub.dir.trust()
    )
    try:
        js = nc.jetstream()
        bucket = await ensure_bucket(js, CONFIG)
        assert await bucket.create("taken", b"first") >= 1
        await js.delete_key_value(CONFIG.bucket)  # nobody takes a write or a read now

        async def back_in_a_second() -> None:
            await asyncio.sleep(1.0)
            await js.create_key_value(CONFIG)

        returning = asyncio.create_task(back_in_a_second())
        assert await bucket.put("k", b"v") >= 1  # waited, then written once
        await returning
        assert await bucket.value("k") == b"v"
        assert await bucket.keys() == ["k"]
        await bucket.create("once", b"1")
        with pytest.raises(WrongRevision):  # a compare-and-set that lost is not retried
            await bucket.create("once", b"2")

        await js.delete_key_value(CONFIG.bucket)
        monkeypatch.setattr(limits, "STORE_RIDE_OUT_S", 0.5)
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable, match="try again"):
            await bucket.put("k", b"v")
        with pytest.raises(ServiceUnavailable):
            await bucket.value("k")
        assert time.monotonic() - started < 3
    finally:
        await nc.close()


async def test_two_makers_of_one_bucket_both_open_it(hub: RunningHub) -> None:
    """Nodes of a new cluster make the hub's buckets at once: the one that loses the race
    (its create refused: "already in use with a different configuration") opens the
    winner's instead of failing its start."""
    nc = await _nats.connect(
        hub.info.local_url, hub.dir.creds("accounts"), name="t", trust=hub.dir.trust()
    )
    try:
        js = nc.jetstream()
        first = KeyValueConfig(bucket="natster_test_race", history=1, description="one")
        second = KeyValueConfig(bucket="natster_test_race", history=1, description="two")
        buckets = await asyncio.gather(ensure_bucket(js, first), ensure_bucket(js, second))
        assert await buckets[0].create("k", b"v") >= 1
        assert await buckets[1].value("k") == b"v"
    finally:
        await nc.close()
