"""Key-value buckets behind natster's error boundary.

Every call on a :class:`Bucket` maps nats-py's errors (:func:`natster._nats.mapped`) and
rides out a replicated bucket's election for a moment: while a cluster elects a new
leader after losing a node, a write finds nobody to take it ("no responders"; it was
delivered to nobody, so asking again cannot apply it twice) and a read may find no
replica. The wait is shorter than a client's request timeout, so a caller still hears
"try again" rather than silence.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nats.js.api import KeyValueConfig
from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue

from natster import limits
from natster._nats import asking_again, ensure_replicas, forming, mapped, slow_or_leaderless
from natster.errors import KeyMissing, ServiceUnavailable, StoreError, StoreMissing

__all__ = ["Bucket", "ensure_bucket"]

T = TypeVar("T")
Entry = KeyValue.Entry


class Bucket:
    """One KV bucket: ``get`` raises :class:`KeyMissing`, a compare-and-set that lost
    raises :class:`WrongRevision`; nothing of nats-py's leaks."""

    def __init__(self, js: JetStreamContext, name: str, kv: KeyValue) -> None:
        self._js = js
        self._name = name
        self._kv = kv
        self._what = "the hub's store"

    @classmethod
    async def open(cls, js: JetStreamContext, name: str) -> Bucket:
        """An existing bucket (:class:`StoreMissing` if there is none)."""
        with mapped():
            return cls(js, name, await js.key_value(name))

    async def get(self, key: str) -> Entry:
        return await self._ride_out(lambda: self._kv.get(key), reads=True)

    async def value(self, key: str) -> bytes | None:
        """The key's value, or None when it is missing, deleted or empty."""
        return (await self.revision(key))[0]

    async def keys(self) -> list[str]:
        """Every key holding a value, sorted ([] for an empty bucket).

        Read from the stream's own list of subjects, then each key's value: nats-py's
        ``KeyValue.keys`` may end before every key arrived (an empty list came back now
        and then). nats-server lists up to 100,000 subjects in one answer.
        """
        prefix = f"$KV.{self._name}."
        info = await self._ride_out(
            lambda: self._js.stream_info(f"KV_{self._name}", subjects_filter=prefix + ">"),
            reads=True,
        )
        candidates = sorted(s.removeprefix(prefix) for s in info.state.subjects or {})
        values = await asyncio.gather(*(self.value(key) for key in candidates))
        return [key for key, value in zip(candidates, values, strict=True) if value is not None]

    async def create(self, key: str, value: bytes, *, ttl: float | None = None) -> int:
        """Write ``key`` only if it holds no value; returns the new revision."""
        return await self._ride_out(lambda: self._kv.create(key, value, msg_ttl=ttl))

    async def update(self, key: str, value: bytes, *, last: int) -> int:
        """Write ``key`` only if its revision is still ``last`` (0: never written; a
        delete marker's revision: deleted); :class:`WrongRevision` otherwise."""
        return await self._ride_out(lambda: self._kv.update(key, value, last=last))

    async def revision(self, key: str) -> tuple[bytes | None, int]:
        """The key's value (None if missing or deleted) and the revision to write after."""
        try:
            entry = await self.get(key)
        except KeyMissing as exc:
            return None, exc.revision
        return entry.value or None, entry.revision or 0

    async def put(self, key: str, value: bytes) -> int:
        return await self._ride_out(lambda: self._kv.put(key, value))

    async def delete(self, key: str, *, last: int | None = None) -> None:
        """Delete ``key`` (only at revision ``last`` when given)."""
        await self._ride_out(lambda: self._kv.delete(key, last=last))

    async def _ride_out(self, call: Callable[[], Awaitable[T]], *, reads: bool = False) -> T:
        """``call()``, asked again while the bucket has no leader (and, for a read, while
        no replica answered in time) for up to ``limits.STORE_RIDE_OUT_S``."""

        async def mapped_call() -> T:
            with mapped(self._what):
                return await call()

        return await asking_again(
            mapped_call,
            within=limits.STORE_RIDE_OUT_S,
            transient=slow_or_leaderless if reads else _leaderless,
        )


async def _made_elsewhere(js: JetStreamContext, name: str) -> KeyValue:
    """The bucket another node just made, once this one sees it: in a forming cluster its
    stream is "already in use" for a moment before it is found here."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limits.HUB_READY_TIMEOUT_S
    while True:
        try:
            with mapped():
                return await js.key_value(name)
        except StoreMissing:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.2)


def _leaderless(exc: Exception) -> bool:
    """Nobody took the request (it reached nobody: asking again cannot apply it twice)."""
    return isinstance(exc, ServiceUnavailable)


async def ensure_bucket(js: JetStreamContext, config: KeyValueConfig) -> Bucket:
    """Open a key-value bucket, creating it (with ``config``) on first use; one with fewer
    replicas than ``config`` asks for gets them (a hub that grew to three nodes)."""
    return Bucket(js, config.bucket, await forming(lambda: _ensure_bucket(js, config)))


async def _ensure_bucket(js: JetStreamContext, config: KeyValueConfig) -> KeyValue:
    # reads served by any replica (as the Go client's buckets are): they go on while a
    # cluster elects a new leader, and when only a minority of its nodes is left
    config = dataclasses.replace(config, direct=True)
    try:
        with mapped():
            bucket = await js.key_value(config.bucket)
    except StoreMissing:
        try:
            with mapped():
                bucket = await js.create_key_value(config)
        except StoreError:  # another node made it meanwhile ("already in use"): open that
            bucket = await _made_elsewhere(js, config.bucket)
    if await ensure_replicas(js, f"KV_{config.bucket}", config.replicas, direct=True):
        with mapped():  # opened anew: a handle reads directly only if its stream allowed it
            bucket = await js.key_value(config.bucket)
    return bucket
