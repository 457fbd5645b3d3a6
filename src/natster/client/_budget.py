"""How many bytes of chunk replies may be on their way to one connection at once.

Each download keeps a window of chunk requests in flight, but several downloads (and a
player's streams) can share one connection, and nats-server cuts off a connection that
has more than its ``max_pending`` (64 MiB by default) waiting to be read, as a slow
consumer. Every chunk request on a connection is asked within its :class:`ByteBudget`,
so however many transfers run on it, the replies owed to it stay under that.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class ByteBudget:
    """At most ``limit`` bytes held at once (one holder may exceed it alone)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._waiting: list[asyncio.Future[None]] = []

    @contextlib.asynccontextmanager
    async def hold(self, size: int) -> AsyncIterator[None]:
        while self.used and self.used + size > self.limit:
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                await waiter
            finally:
                with contextlib.suppress(ValueError):
                    self._waiting.remove(waiter)
        self.used += size
        try:
            yield
        finally:
            self.used -= size
            for waiter in self._waiting:
                if not waiter.done():
                    waiter.set_result(None)
