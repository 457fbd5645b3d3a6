"""The JSON API under /api: who I am, my library, catalogs' entries, shares, the feed."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import StreamingResponse

from natster import limits, wire
from natster.client import browse, remote
from natster.client.browsers import sign_in_browser
from natster.client.devices import Device, Rights
from natster.client.library import library
from natster.errors import ReadOnlyDevice

from ._state import State

router = APIRouter(prefix="/api")


async def full_rights(state: State) -> None:
    """A change (share, import, sign a browser in...) needs the rights of a full machine:
    a read-only device's `natster web` refuses it here, before NATS would."""
    if state.client.context.rights != "full":
        raise ReadOnlyDevice


CHANGES = [Depends(full_rights)]


class ShareBody(BaseModel):
    account: str = Field(min_length=56, max_length=56)


class DeclineBody(BaseModel):
    owner: str = Field(min_length=56, max_length=56)
    catalog: str = Field(min_length=1, max_length=limits.MAX_CATALOG_NAME)


class ImportBody(DeclineBody):
    alias: str | None = Field(default=None, max_length=limits.MAX_CATALOG_NAME)


class BrowserBody(BaseModel):
    code: str = Field(min_length=1, max_length=32)
    full: bool = False


class Me(BaseModel):
    account: str
    name: str
    hub: str
    rights: Rights  # "read-only": this UI changes nothing (no share, import or sign-in)
    csrf: str  # send back in the X-Natster-CSRF header on POST and DELETE


@router.get("/me")
async def whoami(state: State, request: Request) -> Me:
    """Who this UI acts as, and the CSRF token for changes."""
    client = state.client
    return Me(
        account=client.account,
        name=client.context.name,
        hub=client.context.url,
        rights=client.context.rights,
        csrf=request.state.session.csrf,
    )


@router.get("/catalogs")
async def catalogs(state: State) -> list[wire.LibraryItem]:
    """My library: my catalogs, the ones I imported and the ones in my inbox."""
    return await library(state.client)


@router.get("/catalogs/{owner}/{catalog}/entries")
async def entries(
    state: State,
    owner: str,
    catalog: str,
    prefix: str = Query("", max_length=limits.MAX_PATH_CHARS),
    q: str = Query("", max_length=256),
    after: str = Query("", max_length=limits.MAX_PATH_CHARS),
    limit: int = Query(limits.CONTENTS_PAGE, ge=1, le=limits.CONTENTS_PAGE_MAX),
) -> wire.ContentsPage:
    """One page of a catalog's entries in path order (``next`` is the next ``after``)."""
    ref = await state.ref_of(owner, catalog)
    return await remote.page(state.client, ref, prefix=prefix, search=q, after=after, limit=limit)


@router.get("/catalogs/{owner}/{catalog}/folder")
async def folder(
    state: State,
    owner: str,
    catalog: str,
    path: str = Query("", max_length=limits.MAX_PATH_CHARS),
    sort: wire.FolderSort = "name",
    reverse: bool = False,
    offset: int = Query(0, ge=0, le=2**40),
    limit: int = Query(limits.CONTENTS_PAGE, ge=1, le=limits.CONTENTS_PAGE_MAX),
) -> wire.FolderPage:
    """One page of a folder: its subfolders (with counts and sizes), then its files."""
    ref = await state.ref_of(owner, catalog)
    return await browse.folder(
        state.client, ref, path, sort=sort, reverse=reverse, offset=offset, limit=limit
    )


@router.get("/search")
async def search(
    state: State,
    q: str = Query(min_length=1, max_length=256),
    kind: wire.SearchKind | None = None,
) -> wire.SearchResults:
    """``q`` in every catalog of mine and every imported one, grouped by catalog."""
    return await browse.search_everywhere(state.client, q, kind)


@router.get("/people")
async def people(
    state: State, q: str = Query("", max_length=limits.MAX_ACCOUNT_NAME)
) -> wire.People:
    """Members of the hub whose name contains ``q``, by name (to share with)."""
    return await state.client.people(q)


@router.post("/catalogs/{catalog}/shares", dependencies=CHANGES)
async def share(state: State, catalog: str, body: ShareBody) -> wire.ShareOutcome:
    """Share my catalog with an account."""
    return await remote.share(state.client, catalog, body.account)


@router.delete("/catalogs/{catalog}/shares/{account}", dependencies=CHANGES)
async def unshare(state: State, catalog: str, account: str) -> dict[str, bool]:
    """Stop sharing my catalog with an account."""
    await remote.unshare(state.client, catalog, account)
    return {"ok": True}


@router.post("/imports", dependencies=CHANGES)
async def import_(state: State, body: ImportBody) -> wire.ImportedCatalog:
    """Import a catalog from my inbox."""
    return await remote.import_catalog(state.client, body.catalog, body.owner, body.alias)


@router.post("/declines", dependencies=CHANGES)
async def decline(state: State, body: DeclineBody) -> dict[str, bool]:
    """Turn down a catalog in my inbox (the share ends)."""
    await remote.decline(state.client, body.catalog, body.owner)
    return {"ok": True}


@router.post("/browsers", dependencies=CHANGES)
async def add_browser(state: State, body: BrowserBody) -> Device:
    """Sign in the browser showing ``code`` on the hub's web app, as a device of mine."""
    rights: Rights = "full" if body.full else "read-only"
    return await sign_in_browser(state.client, body.code, rights=rights)


@router.get("/stats")
async def stats(state: State) -> wire.Stats:
    """Platform numbers from the global service."""
    return await state.client.stats()


@router.get("/events", response_class=StreamingResponse)
async def events(state: State) -> StreamingResponse:
    """Server-sent events: ``feed`` (a catalog went online or offline, was shared,
    unshared or changed) and ``resync`` (missed events: fetch the library again)."""
    return StreamingResponse(
        state.broadcaster.stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
