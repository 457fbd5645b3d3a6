"""Forgetting one of my catalogs without leaving people with a share that leads nowhere."""

from __future__ import annotations

from dataclasses import dataclass

from natster.catalog import Catalogs
from natster.errors import CatalogError

from ._client import NatsterClient
from .people import label, look_alike_accounts
from .remote import CatalogRef, answering, unshare

__all__ = ["Forgotten", "forget"]


@dataclass(frozen=True)
class Forgotten:
    unshared: list[str]  # the names of those it was shared with (now unshared)
    served: bool  # a `catalog serve` was answering for it


async def forget(client: NatsterClient, name: str, *, force: bool = False) -> Forgotten:
    """Forget my catalog ``name``: refused while it is shared or served, unless
    ``force``, which unshares it from everyone first."""
    me = client.account
    with Catalogs(client.home.path) as mine:
        mine.info(name)  # CatalogNotFound before anything else
    rows = [r for r in await client.my_shares() if r.owner == me and r.catalog == name]
    served = await answering(client, CatalogRef(me, name, name, local=True)) is not None
    alike = look_alike_accounts((r.to, r.to_name) for r in rows)
    people = [label(r.to, r.to_name, me, alike) for r in rows]
    if not force and (people or served):
        why = []
        if people:
            why.append(f"it is shared with {', '.join(people)}")
        if served:
            why.append("`natster catalog serve` is serving it")
        raise CatalogError(
            f"{name} was not removed: {' and '.join(why)}; `natster catalog rm {name} "
            "--force` unshares it from everyone and forgets it"
        )
    for row in rows:
        await unshare(client, name, row.to)
    with Catalogs(client.home.path) as mine:
        mine.remove(name)
    return Forgotten(unshared=people, served=served)
