"""The hub's own catalog (`natster hub up --catalog DIR`), served like anyone's.

The hub's "hub" account is an ordinary natster account whose keys the hub holds; its
catalog "hub" is shared with every account when it is initialized. This gives that
account a NATSTER_HOME inside the hub directory and serves the folder with the same
catalog server everyone uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from natster._clock import now_iso
from natster.catalog import Catalogs
from natster.hub import HubDir
from natster.services.catalog_service import CatalogServer
from natster.services.global_service.service import HUB_CATALOG

from ._client import NatsterClient
from .context import Context, Home

__all__ = ["HubCatalog", "serve_hub_catalog"]

DESCRIPTION = "Welcome material from this hub"


def hub_home(hub: HubDir, url: str) -> Home:
    home = Home(hub.path / "hub-home")
    creds = hub.creds("hub")
    trust = hub.trust()
    context = Context(
        account=hub.load().accounts["hub"],
        name="hub",
        url=url,
        user=creds.public_key,
        initialized_at=now_iso(),
        tls_name=None if trust is None else trust.hostname,
    )
    home.save(context, hub.seed("hub"), creds, None if trust is None else trust.ca_pem)
    return home


def prepare(home: Home, folder: Path) -> None:
    """Make (or refresh) the catalog "hub" from ``folder``."""
    root = folder.expanduser().resolve()
    with Catalogs(home.path) as catalogs:
        if catalogs.index.exists(HUB_CATALOG):
            if catalogs.info(HUB_CATALOG).root == str(root):
                catalogs.rescan(HUB_CATALOG)
                return
            catalogs.remove(HUB_CATALOG)  # another folder this time
        catalogs.new(HUB_CATALOG, DESCRIPTION, root)


class HubCatalog(NamedTuple):
    """The hub's catalog being served: its server, and the hub account's connection."""

    server: CatalogServer
    client: NatsterClient

    async def stop(self) -> None:
        await self.server.stop()
        await self.client.close()


async def serve_hub_catalog(hub: HubDir, url: str, folder: Path) -> HubCatalog:
    home = hub_home(hub, url)
    prepare(home, folder)
    client = await NatsterClient.connect(home, reconnect=True)
    server = CatalogServer(client, home.path, [HUB_CATALOG])
    try:
        await server.start()
    except BaseException:
        await client.close()
        raise
    return HubCatalog(server, client)
