"""The global feed, fanned out to every open page as server-sent events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from natster import limits
from natster.client import NatsterClient

log = logging.getLogger(__name__)


class Broadcaster:
    """One feed subscription for the server; one queue per listening page."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[str | None]] = set()
        self._stale: set[asyncio.Queue[str | None]] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self, client: NatsterClient) -> None:
        self._task = asyncio.create_task(self._run(client))

    def end_streams(self) -> None:
        """Finish every open stream (the server is stopping: pages will reconnect)."""
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()  # room for the end: what it loses, it would not show
            queue.put_nowait(None)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self, client: NatsterClient) -> None:
        async for event in client.feed():
            data = event.model_dump_json()
            for queue in list(self._queues):
                try:
                    queue.put_nowait(data)
                except asyncio.QueueFull:
                    self._stale.add(queue)  # it missed events: it will reload instead

    async def stream(self) -> AsyncIterator[str]:
        """``text/event-stream`` lines for one page, until it goes away."""
        queue: asyncio.Queue[str | None] = asyncio.Queue(limits.WEB_EVENTS_QUEUE)
        self._queues.add(queue)
        try:
            yield "retry: 2000\n\n"
            while True:
                try:
                    data = await asyncio.wait_for(queue.get(), limits.SSE_KEEPALIVE_S)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if data is None:
                    return
                if queue in self._stale:
                    self._stale.discard(queue)
                    while not queue.empty():
                        queue.get_nowait()
                    yield "event: resync\ndata: {}\n\n"
                    continue
                yield f"event: feed\ndata: {data}\n\n"
        finally:
            self._queues.discard(queue)
            self._stale.discard(queue)
