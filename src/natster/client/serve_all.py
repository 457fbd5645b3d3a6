"""``natster serve``: every catalog of this machine served, those made later too.

What ``natster autostart`` runs in the background. The list of catalogs is read again
every ``limits.SERVE_ALL_RECHECK_S``; when it changed (one was made, or removed), the
catalog server is started again with the new list (a second's pause for the others).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from natster import limits
from natster.catalog import Catalogs
from natster.services.catalog_service import CatalogServer
from natster.services.direct import DirectEndpoint

from ._client import NatsterClient

__all__ = ["my_catalogs", "serve_every_catalog"]


def my_catalogs(client: NatsterClient) -> tuple[str, ...]:
    with Catalogs(client.home.path) as mine:
        return tuple(sorted(c.name for c in mine.local()))


async def serve_every_catalog(
    client: NatsterClient,
    stop: asyncio.Event,
    said: Callable[[tuple[str, ...]], None],
    *,
    recheck_s: float = limits.SERVE_ALL_RECHECK_S,
    direct: Callable[[], DirectEndpoint | None] = lambda: None,
) -> None:
    """Serve every catalog of ``client``'s home until ``stop`` is set; ``said(names)``
    each time what is served changes (an empty tuple: nothing to serve yet); ``direct``
    makes each server's direct endpoint."""
    server: CatalogServer | None = None
    names: tuple[str, ...] | None = None
    try:
        while not stop.is_set():
            now = await asyncio.to_thread(my_catalogs, client)
            if now != names:
                if server is not None:
                    await server.stop()
                    server = None
                names = now
                if names:
                    server = CatalogServer(client, client.home.path, list(names), direct=direct())
                    await server.start()
                said(names)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), recheck_s)
    finally:
        if server is not None:
            await server.stop()
