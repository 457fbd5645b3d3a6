"""Browsing what I can see: a catalog's folders, its thumbnails, and one search over
every catalog of mine and every imported one that is online.

What a catalog server answers is checked here as strictly as it checks requests: a
folder's rows must be in that folder, a thumbnail must open with this request's key
and be a small JPEG. A peer's nonsense is a :class:`~natster.errors.ProtocolError`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any, Literal

from natster import endpoints, limits, wire
from natster._jpeg import is_thumbnail
from natster.catalog import Catalogs
from natster.errors import CatalogOffline, CryptoError, NatsterError, ProtocolError
from natster.security import XKey

from ._client import NatsterClient
from .remote import CatalogRef, ask

__all__ = ["folder", "search_everywhere", "thumbnail"]


async def folder(
    client: NatsterClient,
    ref: CatalogRef,
    path: str = "",
    *,
    sort: wire.FolderSort = "name",
    reverse: bool = False,
    offset: int = 0,
    limit: int | None = None,
) -> wire.FolderPage:
    """One page of a folder of a catalog: its subfolders, then its files."""
    path = path.strip("/")
    body = wire.FolderRequest(path=path, sort=sort, reverse=reverse, offset=offset)
    if limit:
        body.limit = limit
    page = await ask(client, ref, endpoints.FOLDER, body)
    return check_folder_page(page, path, offset, f"catalog {ref.display(client.account)}")


def check_folder_page(page: wire.FolderPage, path: str, offset: int, who: str) -> wire.FolderPage:
    """``page`` if every row is directly in folder ``path`` and it moves on from
    ``offset``; a ProtocolError naming ``who`` otherwise."""
    prefix = f"{path}/" if path else ""
    for inside in [f.path for f in page.folders] + [e.path for e in page.entries]:
        if not inside.startswith(prefix) or "/" in inside[len(prefix) :]:
            raise ProtocolError(f"{who} listed {inside!r} as if it were in {path or 'its top'}")
    if page.next is not None and page.next <= offset:
        raise ProtocolError(f"{who} sent pages out of order")
    return page


async def thumbnail(client: NatsterClient, ref: CatalogRef, digest: str) -> bytes:
    """The JPEG thumbnail of the file with hash ``digest``, decrypted here."""
    key = XKey.create()  # this request's only
    body = wire.ThumbnailRequest(hash=digest, xkey=key.public_key)
    timeout = limits.THUMB_REQUEST_TIMEOUT_S
    reply = await ask(client, ref, endpoints.THUMBNAIL, body, timeout=timeout)
    who = f"catalog {ref.display(client.account)}"
    try:
        sealed = base64.b64decode(reply.data, validate=True)
        jpeg = key.channel(reply.xkey).open(sealed, aad=wire.thumb_aad(digest))
    except (binascii.Error, CryptoError, ValueError) as exc:
        raise ProtocolError(f"{who} sent a thumbnail that does not open") from exc
    if not is_thumbnail(jpeg):  # a huge picture in a few bytes reaches nothing that shows it
        raise ProtocolError(f"{who} sent a thumbnail that is not a small JPEG")
    return jpeg


async def search_everywhere(
    client: NatsterClient,
    text: str,
    kind: wire.SearchKind | None = None,
    per_catalog: int = limits.SEARCH_ALL_PER_CATALOG,
) -> wire.SearchResults:
    """``text`` in every catalog of mine and every imported one, asked in parallel; an
    offline catalog is reported without being waited for, a slow one after a deadline."""
    me = client.account
    request = wire.ContentsRequest(text=text.strip(), kind=kind, limit=per_catalog)
    shares, info = await asyncio.gather(client.my_shares(), client.account_info())
    with Catalogs(client.home.path) as local:
        mine = local.index.names()
    online = {(r.owner, r.catalog): r for r in shares if r.to == me}
    targets: list[tuple[CatalogRef, str, bool]] = [
        (CatalogRef(me, name, name, local=True), client.context.name, True) for name in mine
    ]
    for item in sorted(info.catalogs, key=lambda c: c.alias):
        row = online.get((item.owner, item.catalog))
        if row is not None:  # still shared with me
            ref = CatalogRef(item.owner, item.catalog, item.alias, False, row.owner_name)
            targets.append((ref, row.owner_name, row.online))

    async def one(ref: CatalogRef, owner_name: str, up: bool) -> wire.SearchedCatalog:
        def said(state: Literal["found", "offline", "failed"], **more: Any) -> wire.SearchedCatalog:
            return wire.SearchedCatalog(
                owner=ref.owner,
                owner_name=owner_name[:64],
                catalog=ref.catalog,
                alias=ref.alias,
                mine=ref.local,
                state=state,
                **more,
            )

        if not up:
            return said("offline")
        try:
            timeout = limits.SEARCH_ALL_TIMEOUT_S
            page = await ask(client, ref, endpoints.SEARCH, request, timeout=timeout)
        except CatalogOffline as exc:
            return said("offline", error=str(exc)[:300])
        except NatsterError as exc:
            return said("failed", error=str(exc)[:300])
        return said("found", entries=page.entries, more=page.next is not None)

    found = await asyncio.gather(*(one(*target) for target in targets))
    return wire.SearchResults(text=request.text, kind=kind, catalogs=list(found))
