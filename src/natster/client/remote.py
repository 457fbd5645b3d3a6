"""Sharing and browsing catalogs through the client API: share, import, contents."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from natster import endpoints, limits, subjects, wire
from natster._nats import RequestOptions
from natster.catalog import Catalogs, check_name
from natster.endpoints import Endpoint, R
from natster.errors import (
    CatalogError,
    CatalogNotFound,
    CatalogOffline,
    InvalidKey,
    NatsterError,
    NotShared,
    ProtocolError,
    Refused,
    RemoteError,
    ServiceUnavailable,
)
from natster.names import person_name
from natster.security import KeyKind, is_public_key

from ._client import ACCOUNT_SERVICE, NatsterClient
from .people import person

__all__ = [
    "CatalogRef",
    "answering",
    "ask",
    "block",
    "decline",
    "forget_import",
    "import_catalog",
    "inbox",
    "page",
    "pages",
    "resolve",
    "share",
    "sharer",
    "summary",
    "unshare",
]


@dataclass(frozen=True)
class CatalogRef:
    """Where a catalog answers: my own (local), or an import under an alias."""

    owner: str
    catalog: str
    alias: str
    local: bool
    owner_name: str = ""  # the owner's name on the hub, for people to read (the key: identity)

    def subject(self, me: str, endpoint: Endpoint[Any]) -> str:
        if self.local:
            return subjects.catalog_local(me, self.catalog, endpoint.name)
        return subjects.remote_local(self.alias, endpoint.name)

    def display(self, me: str) -> str:
        """How a person reads it: "films", or "films of alice" (the key if no name)."""
        if self.owner == me:
            return self.catalog
        return f"{self.catalog} of {self.owner_name or self.owner}"


def check_account(key: str, me: str) -> str:
    if not is_public_key(key, KeyKind.ACCOUNT):
        raise InvalidKey(f"{key!r} is not an account public key (A..., 56 characters)")
    if key == me:
        raise CatalogError("that is your own account")
    return key


async def share(client: NatsterClient, catalog: str, target: str) -> wire.ShareOutcome:
    """Share my ``catalog`` with ``target``; if they had imported it before an unshare,
    the hub gives them their import back (they accepted it once)."""
    check_account(target, client.account)
    with Catalogs(client.home.path) as mine:
        mine.info(catalog)  # only my own catalogs (CatalogNotFound otherwise)
    recorded = await client.record_share(catalog, target)
    body = wire.ImportRestoreRequest(catalog=catalog, target=target)
    restored = endpoints.IMPORTS_RESTORE.parse(
        await _accounts(client, endpoints.IMPORTS_RESTORE, body), ACCOUNT_SERVICE
    )
    return wire.ShareOutcome(duplicate=recorded.duplicate, restored=restored.restored)


async def unshare(client: NatsterClient, catalog: str, target: str) -> None:
    """Record the unshare, then have the hub remove the recipient's import."""
    check_account(target, client.account)
    await client.record_unshare(catalog, target)
    body = wire.ImportRevokeRequest(catalog=catalog, target=target)
    await _accounts(client, endpoints.IMPORTS_REVOKE, body)


async def decline(client: NatsterClient, catalog: str, owner: str | None = None) -> wire.ShareRow:
    """Turn down ``catalog`` in my inbox (``owner``: a name or key, when several people
    shared one of that name); the share ends, and its owner sees that."""
    if owner is not None:
        owner = (await person(client, owner)).account
    found = [r for r in await inbox(client) if r.catalog == catalog and owner in (None, r.owner)]
    if not found:
        raise NotShared(f"{catalog!r} is not in your inbox: see `natster catalog inbox`")
    if len(found) > 1:
        raise CatalogError(f"several people shared a {catalog!r} with you: pass --owner")
    await client.record_decline(found[0].owner, catalog)
    return found[0]


async def block(client: NatsterClient, who: str, *, blocked: bool = True) -> tuple[str, list[str]]:
    """Take no more shares from ``who`` (a name or key) and decline what they shared and
    I did not import; with ``blocked=False``, take shares from them again. Their name,
    and the catalogs declined."""
    other = await person(client, who)
    pending = [r.catalog for r in await inbox(client) if r.owner == other.account]
    await client.record_block(other.account, blocked=blocked)
    if not blocked:
        return other.name, []
    for catalog in pending:
        await client.record_decline(other.account, catalog)
    return other.name, pending


async def inbox(client: NatsterClient) -> list[wire.ShareRow]:
    """Catalogs shared with me that I have not imported yet."""
    me = client.account
    return [r for r in await client.my_shares() if r.to == me and not r.imported]


async def sharer(client: NatsterClient, catalog: str, who: str) -> tuple[str, str] | None:
    """(key, name) of the one who shared ``catalog`` with me and is named ``who`` (or has
    that key), among my shares: the hub's own account, not a person, is found here too.
    None when no share of that catalog matches."""
    me = client.account
    wanted = person_name(who)
    for row in await client.my_shares():
        named = who.strip() == row.owner or person_name(row.owner_name) == wanted
        if row.to == me and row.catalog == catalog and named:
            return row.owner, row.owner_name or row.owner
    return None


async def import_catalog(
    client: NatsterClient, catalog: str, owner: str, alias: str | None = None
) -> wire.ImportedCatalog:
    check_account(owner, client.account)
    check_name(catalog)
    alias = check_name(alias or catalog)
    with Catalogs(client.home.path) as mine:
        if mine.index.exists(alias):
            raise CatalogError(
                f"you have a catalog named {alias!r} yourself: import this one with --as NAME"
            )
    body = wire.ImportAddRequest(owner=owner, catalog=catalog, alias=alias)
    imported = endpoints.IMPORTS_ADD.parse(
        await _accounts(client, endpoints.IMPORTS_ADD, body), ACCOUNT_SERVICE
    )
    await client.record_import(owner, catalog, imported.alias)
    ref = CatalogRef(owner, catalog, imported.alias, local=False)
    online = any(
        r.online for r in await client.my_shares() if (r.owner, r.catalog) == (owner, catalog)
    )
    if online:  # prove the route works end to end
        await summary(client, ref)
    return imported


async def _accounts(client: NatsterClient, endpoint: Endpoint[Any], body: wire.Request) -> Any:
    return await client.request(
        endpoint.local(),
        body.encode(),
        what=ACCOUNT_SERVICE,
    )


async def forget_import(client: NatsterClient, name: str, owner: str | None = None) -> CatalogRef:
    """Take the imported catalog ``name`` out of my library: the import goes, the share
    stays (it is in my inbox again, to import or decline)."""
    ref = await resolve(client, name, owner)
    if ref.local:
        raise CatalogError(
            f"{name!r} is your own catalog: forget it with `natster catalog rm {name}`"
        )
    body = wire.ImportRemoveRequest(owner=ref.owner, catalog=ref.catalog)
    await _accounts(client, endpoints.IMPORTS_REMOVE, body)
    try:
        await client.record_forget(ref.owner, ref.catalog)
    except RemoteError as exc:
        if exc.status != 404:  # 404: the share itself ended meanwhile: no inbox to go back to
            raise
    return ref


async def resolve(client: NatsterClient, name: str, owner: str | None = None) -> CatalogRef:
    """A catalog by name: mine (unless another owner is named, by name or key), else an
    import."""
    me = client.account
    if owner is not None and not is_public_key(owner, KeyKind.ACCOUNT):
        owner = (await person(client, owner, others=False)).account
    if owner in (None, me):
        with Catalogs(client.home.path) as mine:
            if mine.index.exists(name):
                return CatalogRef(me, name, name, local=True)
    info, shares = await asyncio.gather(client.account_info(), client.my_shares())
    found = [c for c in info.catalogs if c.alias == name and owner in (None, c.owner)]
    found = found or [c for c in info.catalogs if c.catalog == name and owner in (None, c.owner)]
    if len(found) > 1:
        raise CatalogError(f"several imported catalogs are named {name!r}: pass --owner")
    if not found:
        pending = [
            r for r in shares if r.catalog == name and r.to == me and owner in (None, r.owner)
        ]
        if pending:
            raise CatalogNotFound(
                f"{name!r} is shared with you but not imported yet: "
                f"natster catalog import {name} {pending[0].owner_name or pending[0].owner}"
            )
        raise NotShared(
            f"{name!r} is not shared with you (or no longer), and you have no catalog of "
            "that name: see `natster catalog ls`"
        )
    item = found[0]
    names = {r.owner: r.owner_name for r in shares if r.owner_name}
    return CatalogRef(item.owner, item.catalog, item.alias, False, names.get(item.owner, ""))


async def _request(
    client: NatsterClient,
    ref: CatalogRef,
    endpoint: Endpoint[Any],
    body: wire.Request | None = None,
    timeout: float | None = None,
) -> Any:
    me = client.account
    options: RequestOptions = {"what": f"catalog {ref.display(me)}"}
    if timeout is not None:
        options["timeout"] = timeout
    try:
        return await client.request(
            ref.subject(me, endpoint),
            b"{}" if body is None else body.encode(),
            **options,
        )
    except ServiceUnavailable as exc:
        from ._unserved import answer_unserved, answers_unserved  # not every command needs it

        if ref.local and answers_unserved(endpoint):  # my own: this machine's index knows
            payload = b"{}" if body is None else body.encode()
            try:
                return await answer_unserved(client.home.path, ref.catalog, endpoint, payload)
            except Refused as refused:  # as a server would have answered it
                raise RemoteError(str(refused), refused.status) from refused
        if ref.local:
            raise CatalogOffline(
                f"catalog {ref.catalog} is not being served: run `natster catalog serve "
                f"{ref.catalog}`"
            ) from exc
        still = any(
            (r.owner, r.catalog, r.to) == (ref.owner, ref.catalog, me)
            for r in await client.my_shares()
        )
        if not still:
            raise NotShared(f"{ref.display(me)} is not shared with you (any more)") from exc
        raise CatalogOffline(
            f"{ref.display(me)} is offline: its owner is not serving it right now"
        ) from exc
    except RemoteError as exc:
        if exc.status == 403:
            raise NotShared(f"{ref.display(me)} is not shared with you (any more)") from exc
        if exc.status == 503:
            raise CatalogOffline(
                f"{ref.display(me)}: its owner's server is checking who may see it (the hub "
                "was away): try again in a moment"
            ) from exc
        raise


async def ask(
    client: NatsterClient,
    ref: CatalogRef,
    endpoint: Endpoint[R],
    body: wire.Request | None = None,
    timeout: float | None = None,
) -> R:
    """Ask a catalog server and check its answer as strictly as it checks requests."""
    data = await _request(client, ref, endpoint, body, timeout)
    return endpoint.parse(data, f"catalog {ref.display(client.account)}")


async def summary(client: NatsterClient, ref: CatalogRef) -> wire.CatalogSummary:
    return await ask(client, ref, endpoints.SUMMARY)


async def answering(client: NatsterClient, ref: CatalogRef) -> wire.CatalogSummary | None:
    """The catalog's summary if its server answers within a moment, else None."""
    with contextlib.suppress(NatsterError, TimeoutError):
        return await asyncio.wait_for(summary(client, ref), limits.SUMMARY_TIMEOUT_S)
    return None


async def page(
    client: NatsterClient,
    ref: CatalogRef,
    *,
    prefix: str = "",
    search: str = "",
    after: str = "",
    limit: int | None = None,
) -> wire.ContentsPage:
    """One page of a catalog's entries in path order (``search``: matching ones only)."""
    body = wire.ContentsRequest(prefix=prefix, after=after, text=search if search.strip() else "")
    if limit:
        body.limit = limit
    return await ask(client, ref, endpoints.SEARCH if body.text else endpoints.CONTENTS, body)


async def pages(
    client: NatsterClient,
    ref: CatalogRef,
    *,
    prefix: str = "",
    search: str = "",
    page_size: int | None = None,
) -> AsyncIterator[wire.ContentsPage]:
    """Every page of a catalog's entries, in path order (any number of entries)."""
    after = ""
    while True:
        one = await page(client, ref, prefix=prefix, search=search, after=after, limit=page_size)
        yield one
        if one.next is None:
            return
        if one.next <= after:  # a server that never moves on would keep us here forever
            raise ProtocolError(f"catalog {ref.display(client.account)} sent pages out of order")
        after = one.next
