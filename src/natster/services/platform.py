"""A whole natster platform on one machine: the hub plus a global service instance,
and what else ``hub up`` runs beside them (the web app, the hub's catalog).

The hub layer cannot import services, so `natster hub up` (and the tests) compose
them here: :class:`Platform` is the one place that starts the hub's parts in order and
stops them in the reverse order.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Protocol, Unpack

from natster._nats import Client, connect
from natster._quiet import quietly
from natster.hub import Hub, HubDir, HubInfo, HubOptions
from natster.hub.cluster.nodes import replicas

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


class Part(Protocol):
    """Something a hub node runs beside its hub (started by its maker)."""

    async def stop(self) -> None: ...


PartMaker = Callable[["Platform", HubInfo], Awaitable[Part | None]]


class Platform:
    """``async with Platform(path, ...) as info``: hub (nats-server and the account
    service), the global service, then each of ``parts`` in order (a maker starts one,
    given the platform and where it runs; None: not on this node); stopped in reverse."""

    def __init__(
        self, path: Path, *, parts: Sequence[PartMaker] = (), **options: Unpack[HubOptions]
    ) -> None:
        self.hub = Hub(path, **options)
        self.global_service: GlobalService | None = None
        self._nc: Client | None = None
        self._makers = list(parts)
        self._parts: list[Part] = []

    @property
    def dir(self) -> HubDir:
        return self.hub.dir

    async def start(self) -> HubInfo:
        info = await self.hub.start()
        try:
            self.global_service, self._nc = await start_global(self.hub.dir, info.local_url)
            if self.hub.account_service is not None:
                await self.hub.account_service.announce_hub()
            for make in self._makers:
                part = await make(self, info)
                if part is not None:
                    self._parts.append(part)
        except BaseException:
            await self.stop()
            raise
        return info

    async def stop(self) -> None:
        while self._parts:
            part = self._parts.pop()
            with quietly(log, f"stopping {type(part).__name__}"):
                await part.stop()
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
