"""A whole natster platform on one machine: the hub plus a global service instance.

The hub layer cannot import services, so `natster hub up` (and the tests) compose
them here.
"""

from __future__ import annotations

import logging
from pathlib import Path

from natster._nats import Client, connect
from natster._quiet import quietly
from natster.hub import Hub, HubDir, HubInfo
from natster.hub.nodes import replicas

from .global_service import GlobalService

log = logging.getLogger(__name__)


async def start_global(hub: HubDir, url: str) -> tuple[GlobalService, Client]:
    """A global service instance for the hub in ``hub``, reached at ``url``."""
    config = hub.load()
    nc = await connect(
        url, hub.creds("global"), name="natster-global", trust=hub.trust(), reconnect=True
    )
    service = GlobalService(
        nc,
        accounts_account=config.accounts["accounts"],
        hub_account=config.accounts["hub"],
        guests_account=config.accounts["signin"],
        replicas=replicas(config),
    )
    try:
        await service.start()
    except BaseException:
        await nc.close()
        raise
    return service, nc


class Platform:
    """``async with Platform(path, ...) as info``: hub, account service, global service."""

    def __init__(self, path: Path, **hub_options: object) -> None:
        self.hub = Hub(path, **hub_options)  # type: ignore[arg-type]
        self.global_service: GlobalService | None = None
        self._nc: Client | None = None

    @property
    def dir(self) -> HubDir:
        return self.hub.dir

    async def start(self) -> HubInfo:
        info = await self.hub.start()
        try:
            self.global_service, self._nc = await start_global(self.hub.dir, info.local_url)
            if self.hub.account_service is not None:
                await self.hub.account_service.announce_hub()
        except BaseException:
            await self.stop()
            raise
        return info

    async def stop(self) -> None:
        if self.global_service is not None:
            with quietly(log, "stopping the global service"):
                await self.global_service.stop()
            self.global_service = None
        if self._nc is not None:
            with quietly(log, "closing the global service's connection"):
                await self._nc.close()
            self._nc = None
        await self.hub.stop()

    async def __aenter__(self) -> HubInfo:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
