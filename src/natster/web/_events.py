"""The global feed, fanned out to every open page as server-sent events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

from natster import limits
from natster.client import NatsterClient

log = logging.getLogger(__name__)


HUB_CHECK_S = 0.5  # how often the server looks whether the hub is reachable


def _message(event: str, data: str) -> str:
    return f"event: {event}\ndata: {data}\n\n"


class Broadcaster:
    """One feed subscription for the server; one queue per listening page. Each page
    also hears ``hub`` when the hub becomes unreachable or reachable again."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[str | None]] = set()
        self._stale: set[asyncio.Queue[str | None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._reachable = True

    def start(self, client: NatsterClient) -> None:
        self._tasks = [
            asyncio.create_task(self._run(client)),
            asyncio.create_task(self._watch_hub(client)),
        ]

    def _send(self, message: str) -> None:
        for queue in list(self._queues):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                self._stale.add(queue)  # it missed events: it will reload instead

    async def _watch_hub(self, client: NatsterClient) -> None:
        while True:
            await asyncio.sleep(HUB_CHECK_S)
            if client.connected != self._reachable:
                self._reachable = client.connected
                self._send(_message("hub", json.dumps({"reachable": self._reachable})))

    def end_streams(self) -> None:
        """Finish every open stream (the server is stopping: pages will reconnect)."""
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()  # room for the end: what it loses, it would not show
            queue.put_nowait(None)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, client: NatsterClient) -> None:
        async for event in client.feed():
            self._send(_message("feed", event.model_dump_json()))

    async def stream(self) -> AsyncIterator[str]:
        """``text/event-stream`` lines for one page, until it goes away."""
        queue: asyncio.Queue[str | None] = asyncio.Queue(limits.WEB_EVENTS_QUEUE)
        self._queues.add(queue)
        try:
            yield "retry: 2000\n\n"
            if not self._reachable:
                yield _message("hub", json.dumps({"reachable": False}))
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
                yield data
        finally:
            self._queues.discard(queue)
            self._stale.discard(queue)
