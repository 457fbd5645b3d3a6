"""My library: my own catalogs and the ones shared with me, with their online state."""

from __future__ import annotations

import asyncio

from natster import wire
from natster.catalog import Catalogs

from ._client import NatsterClient
from .remote import CatalogRef, answering

__all__ = ["library"]


async def library(client: NatsterClient) -> list[wire.LibraryItem]:
    """Mine first, then imported ones, then the inbox (shared, not imported yet)."""
    me = client.account
    shares, info = await asyncio.gather(client.my_shares(), client.account_info())
    with Catalogs(client.home.path) as local:
        own = local.local()
    items: list[wire.LibraryItem] = []
    served = await asyncio.gather(  # is my server answering? ask it
        *(answering(client, CatalogRef(me, c.name, c.name, local=True)) for c in own)
    )
    for catalog, answer in zip(own, served, strict=True):
        rows = [r for r in shares if r.owner == me and r.catalog == catalog.name]
        items.append(
            wire.LibraryItem(
                owner=me,
                owner_name=client.context.name,
                catalog=catalog.name,
                alias=catalog.name,
                mine=True,
                imported=True,
                online=answer is not None,
                description=catalog.description,
                files=catalog.files,
                bytes=catalog.bytes,
                shared_with=sorted({r.to for r in rows}),
                names={r.to: r.to_name for r in rows if r.to_name},
            )
        )
    theirs = [r for r in shares if r.to == me and r.owner != me]
    aliases = {(c.owner, c.catalog): c.alias for c in info.catalogs}
    refs = [
        CatalogRef(
            r.owner, r.catalog, aliases.get((r.owner, r.catalog), r.catalog), False, r.owner_name
        )
        for r in theirs
    ]
    summaries = await asyncio.gather(
        *(
            answering(client, ref)
            if row.online and (row.owner, row.catalog) in aliases
            else _none()
            for row, ref in zip(theirs, refs, strict=True)
        )
    )
    for row, ref, found in zip(theirs, refs, summaries, strict=True):
        items.append(
            wire.LibraryItem(
                owner=row.owner,
                owner_name=row.owner_name,
                catalog=row.catalog,
                alias=ref.alias,
                mine=False,
                imported=(row.owner, row.catalog) in aliases,
                online=row.online,
                description=found.description if found else (row.description or ""),
                files=found.files if found else None,
                bytes=found.bytes if found else None,
                shared_with=[],
            )
        )
    return items


async def _none() -> None:
    return None
