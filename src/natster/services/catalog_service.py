"""The catalog server: my catalogs, served to me and to those I shared them with.

A NATS micro service in the owner's account on ``*.natster.catalog.<catalog>.<endpoint>``.
The account exports that with token position 1, so the first token is the requester's
account, put there by NATS. Access is enforced twice: NATS routes a request only through
an import the account service added after the owner shared; and every request is checked
here against the owner's shares, kept current by the live feed. When unsure, it refuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

from nats.micro import add_service
from nats.micro.service import EndpointConfig, ServiceConfig

from natster import __version__, endpoints, limits, subjects, wire
from natster import events as ev
from natster._nats import Client
from natster._quiet import quietly
from natster._service import Handler, add_endpoints, endpoint
from natster.catalog import Catalogs, Entry, ScanReport, watch_catalog
from natster.endpoints import Endpoint
from natster.errors import NatsterError, Refused
from natster.names import printable

from .browsing import Browsing
from .direct import DirectEndpoint
from .transfer import Transfers

log = logging.getLogger(__name__)

_NO_DIRECT = "this server offers no direct path: read through the hub"

T = TypeVar("T")

Action = Callable[[str, str, bytes], Awaitable[Any]]  # (requester, catalog, payload)


Stop = Callable[[], Awaitable[None]]


class ServingLink(Protocol):
    """A connection in the owner's serving account (hub/accounts/serving.py), where it answers."""

    @property
    def max_payload(self) -> int: ...

    async def close(self) -> None: ...


class ServingClient(Protocol):
    """What the catalog server needs from the client API (NatsterClient has it)."""

    async def open_serving(
        self,
        serve: Callable[[Client], Awaitable[Stop]],
        bulk: Callable[[Client], Awaitable[Stop]] | None = None,
    ) -> ServingLink:
        """A connection in my serving account; ``serve`` starts serving on it (and on
        each that replaces it when its credentials are renewed), and says how to stop;
        ``bulk`` the same on a second connection beside it."""
        ...

    @property
    def reconnects(self) -> int: ...

    @property
    def account(self) -> str: ...

    async def my_shares(self) -> list[wire.ShareRow]: ...

    async def heartbeat(
        self,
        catalog: str,
        revision: int,
        online: bool = True,
        description: str = "",
        transfers: int = 0,
    ) -> None: ...

    def feed(self) -> AsyncIterator[ev.FeedEvent]: ...


class Access:
    """Who may reach which of my catalogs: me, and the accounts I shared it with."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._allowed: dict[str, set[str]] = {}
        self.ready = False

    def load(self, rows: list[wire.ShareRow]) -> None:
        allowed: dict[str, set[str]] = {}
        for row in rows:
            if row.owner == self.owner:
                allowed.setdefault(row.catalog, set()).add(row.to)
        self._allowed = allowed
        self.ready = True

    def apply(self, event: ev.FeedEvent) -> None:
        if event.owner != self.owner or event.target is None:
            return
        targets = self._allowed.setdefault(event.catalog, set())
        if event.kind == "shared":
            targets.add(event.target)
        elif event.kind == "unshared":
            targets.discard(event.target)

    def allows(self, requester: str, catalog: str) -> bool:
        if requester == self.owner:
            return True
        return self.ready and requester in self._allowed.get(catalog, set())

    def check(self, requester: str, catalog: str) -> None:
        """Refuse unless allowed; while the shares are being re-read, say so (503), since
        "not shared" would be a lie to those it is shared with (fail closed, truthfully)."""
        if self.allows(requester, catalog):
            return
        if not self.ready:
            raise Refused("the owner's server is checking who may see it: try again", 503)
        raise Refused("that catalog is not shared with you", 403)


class CatalogServer:
    def __init__(
        self,
        client: ServingClient,
        home: Path,
        names: list[str],
        direct: DirectEndpoint | None = None,
    ) -> None:
        self._client = client
        self.direct = direct  # stopped with this server; started with it unless on demand
        self._direct_starting = asyncio.Lock()
        self._home = home
        self.names = list(dict.fromkeys(names))
        self.owner = client.account
        self.access = Access(self.owner)
        self._db = ThreadPoolExecutor(1, thread_name_prefix="natster-catalog-db")
        self._catalogs: Catalogs | None = None
        self._link: ServingLink | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self._revisions: dict[str, int] = {}
        self.transfers = Transfers()
        self.browsing = Browsing(home, self._in_db)
        self._facts_due: dict[str, asyncio.Event] = {}

    async def _in_db(self, fn: Callable[[Catalogs], T]) -> T:
        def run() -> T:
            if self._catalogs is None:
                self._catalogs = Catalogs(self._home)
            return fn(self._catalogs)

        return await asyncio.get_running_loop().run_in_executor(self._db, run)

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        for name in self.names:  # every catalog must exist here (CatalogNotFound otherwise)
            info = await self._in_db(lambda c, n=name: c.info(n))  # type: ignore[misc]
            self._revisions[name] = info.revision
        self.access.load(await self._client.my_shares())
        self._tasks.append(asyncio.create_task(self._follow_feed()))
        self._tasks.append(asyncio.create_task(self._refresh_shares()))
        self._link = await self._client.open_serving(self._serve_on, self._serve_chunks_on)
        for name in self.names:
            await self._beat(name)
            self._tasks.append(asyncio.create_task(self._watch(name)))
            self._facts_due[name] = asyncio.Event()
            self._facts_due[name].set()
            self._tasks.append(asyncio.create_task(self._facts(name)))
        self._tasks.append(asyncio.create_task(self._heartbeats()))
        self._tasks.append(asyncio.create_task(self._reap()))
        if self.direct is not None and not self.direct.on_demand:
            await self._start_direct(self.direct)
        log.info("serving %s", ", ".join(self.names))

    async def _start_direct(self, direct: DirectEndpoint) -> None:
        await direct.start()
        if direct.connection is not None:  # (it is, once started)
            await self._serve_direct(direct.connection)
        log.info("direct endpoint at %s", ", ".join(direct.urls))

    async def _direct_ready(self) -> DirectEndpoint:
        """The direct endpoint, started now if it waited for a first transfer; if it
        cannot start, there is none from now on (the hub carries every transfer)."""
        direct = self.direct
        if direct is None:
            raise Refused(_NO_DIRECT, 404)
        async with self._direct_starting:
            if self._stop.is_set():  # stopping (or stopped while this waited)
                raise Refused(_NO_DIRECT, 404)
            if not direct.started:
                try:
                    await self._start_direct(direct)
                except (NatsterError, OSError) as exc:
                    log.warning("no direct transfers: the direct endpoint did not start: %s", exc)
                    self.direct = None
                    await direct.stop()
                    raise Refused(_NO_DIRECT, 404) from exc
        return direct

    async def _serve_on(self, nc: Client) -> Stop:
        """The micro service, on a connection in my serving account: every endpoint but
        the chunks, which have a connection of their own (``_serve_chunks_on``): a small
        reply never waits behind megabytes of chunks queued on the line."""
        return await self._service(nc, endpoints.Service.CATALOG.value, bulk=False)

    async def _serve_chunks_on(self, nc: Client) -> Stop:
        return await self._service(nc, f"{endpoints.Service.CATALOG.value}-chunks", bulk=True)

    async def _service(self, nc: Client, name: str, *, bulk: bool) -> Stop:
        service = await add_service(
            nc,
            ServiceConfig(
                name=name,
                version=__version__,
                description=f"natster catalogs of {self.owner}",
                queue_group=f"natster-catalog-{self.owner}",
                metadata={"catalogs": ",".join(self.names)},
            ),
        )
        table = [e for e in endpoints.CATALOG if e.bulk == bulk]
        handlers = {e: h for e, h in self._handlers().items() if e.bulk == bulk}
        for catalog in self.names:
            await add_endpoints(service, table, handlers, catalog=catalog)
        return service.stop

    async def _serve_direct(self, nc: Client) -> None:
        """Chunks of open transfers on the direct endpoint: each connection there may ask
        for its own transfer's only (its JWT says so); the share is checked on each."""
        service = await add_service(
            nc,
            ServiceConfig(
                name="natster-direct",
                version=__version__,
                description=f"natster transfers of {self.owner}, direct",
            ),
        )
        await service.add_endpoint(
            EndpointConfig(
                name="chunk",
                subject=subjects.DIRECT_CHUNKS,
                handler=endpoint(self._direct_chunk, endpoints.TRANSFER_CHUNK.concurrency),
            )
        )

    async def _direct_chunk(self, subject: str, payload: bytes) -> Any:
        request = wire.parse_request(payload, wire.TransferChunkRequest)
        if subject != subjects.direct_chunk(request.transfer):
            raise Refused("that is another transfer's", 403)
        transfer = self.transfers.find(request.transfer)
        self.access.check(transfer.requester, transfer.catalog)
        return await self.transfers.chunk(transfer.requester, transfer.catalog, request)

    async def _offer_direct(self, requester: str, catalog: str, payload: bytes) -> Any:
        request = wire.parse_request(payload, wire.TransferDirectRequest)
        transfer = self.transfers.get(requester, catalog, request.transfer)
        direct = await self._direct_ready()
        ticket = direct.tickets.issue(requester, transfer.id)
        return wire.DirectOffer(
            urls=direct.urls, cert=direct.cert_pem.decode(), ticket=ticket.secret
        ).model_dump()

    async def stop(self) -> None:
        """Stop serving and say so at once (offline now, not in 15 s)."""
        self._stop.set()
        async with self._direct_starting:  # not while it starts: it would outlive us
            if self.direct is not None:
                await self.direct.stop()
        if self._link is not None:  # stops the micro service, lets answers go, closes
            await self._link.close()
        for task in self._tasks:
            task.cancel()
            with (
                contextlib.suppress(asyncio.CancelledError),
                quietly(log, "stopping a catalog server task"),
            ):
                await task
        for name in self.names:
            with contextlib.suppress(NatsterError):
                await self._client.heartbeat(name, self._revisions.get(name, 0), online=False)
        self.transfers.close_all()
        self.browsing.close()
        self._db.shutdown(wait=True)
        log.info("stopped serving %s", ", ".join(self.names))

    # --- background ------------------------------------------------------------------------
    async def _beat(self, name: str) -> None:
        info = await self._in_db(lambda c: c.info(name))
        self._revisions[name] = info.revision
        description = printable(info.description)  # one made before they were checked
        await self._client.heartbeat(
            name, info.revision, description=description, transfers=self.transfers.of(name)
        )

    async def _heartbeats(self) -> None:
        """Say every few seconds that each catalog is online: after a lost hub or a
        restarted one, the next beat announces it again (this loop never gives up)."""
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), limits.HEARTBEAT_INTERVAL_S)
            if self._stop.is_set():
                return
            for name in self.names:
                try:
                    await self._beat(name)
                except Exception as exc:
                    log.warning("heartbeat for %s failed: %s", name, exc)

    async def _watch(self, name: str) -> None:
        async def changed(report: ScanReport) -> None:
            log.info("catalog %s changed: revision %d", name, report.revision)
            with contextlib.suppress(NatsterError):
                await self._beat(name)  # publishes the new revision at once
            self._facts_due[name].set()

        await watch_catalog(self._home, name, changed, self._stop)

    async def _facts(self, name: str) -> None:
        """Media facts of new files, after each scan, in the background."""
        due = self._facts_due[name]
        while not self._stop.is_set():
            await due.wait()
            due.clear()
            try:
                found = await self.browsing.compute_facts(name)
            except Exception as exc:  # an index busy for long: the next change tries again
                log.warning("media facts of %s: %s", name, exc)
                continue
            if found:
                log.info("catalog %s: media facts of %d files", name, found)

    async def _reap(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 5)
            freed = self.transfers.reap()
            if freed:
                log.info("freed %d abandoned transfers", freed)
            if self.direct is not None:
                self.direct.keep_only(self.transfers.ids)

    async def _follow_feed(self) -> None:
        while not self._stop.is_set():
            try:
                async for event in self._client.feed():
                    self.access.apply(event)
                    if event.kind == "unshared":
                        await self._end_unshared()
            except Exception as exc:  # a broken feed makes us unsure: refuse until reloaded
                self.access.ready = False
                log.warning("live feed lost (%s); refusing others until it is back", exc)
                await asyncio.sleep(limits.FEED_RETRY_S)

    async def _end_unshared(self) -> None:
        """Close the transfers of those who may no longer see their catalog, and the
        connections their direct endpoint let in for them (an unshare ends them at once)."""
        if not self.access.ready:  # unsure who may: refused meanwhile, ended once known
            return
        for transfer in self.transfers.end_unless(self.access.allows):
            log.info("ended transfer %s: no longer shared", transfer)
            if self.direct is not None and self.direct.started:
                await self.direct.cut_off(transfer)

    async def _refresh_shares(self) -> None:
        """Re-read my shares now and then; while they cannot be read (the hub is away or
        restarting), others are refused and the shares are tried again every second."""
        last, reconnects = time.monotonic(), self._client.reconnects
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), limits.SHARE_RETRY_S)
            # Re-read when unsure, when due, and after a reconnect (feed events may be lost).
            stale = time.monotonic() - last >= limits.SHARE_CACHE_REFRESH_S
            if self.access.ready and not stale and self._client.reconnects == reconnects:
                continue
            last, reconnects = time.monotonic(), self._client.reconnects
            try:
                self.access.load(await self._client.my_shares())
            except Exception as exc:
                if self.access.ready:
                    log.warning("could not refresh shares (%s); refusing others", exc)
                self.access.ready = False
            else:  # an unshare whose event was lost ends its transfers now
                await self._end_unshared()

    # --- requests ----------------------------------------------------------------------------
    def _handlers(self) -> dict[Endpoint[Any], Handler]:
        actions: dict[Endpoint[Any], Action] = {
            endpoints.SUMMARY: self._summary,
            endpoints.CONTENTS: lambda _r, catalog, p: self.browsing.contents(catalog, p),
            endpoints.FOLDER: lambda _r, catalog, p: self.browsing.folder(catalog, p),
            endpoints.SEARCH: lambda _r, catalog, p: self.browsing.search(catalog, p),
            endpoints.THUMBNAIL: lambda _r, catalog, p: self.browsing.thumbnail(catalog, p),
            endpoints.TRANSFER_OPEN: self._open_transfer,
            endpoints.TRANSFER_CHUNK: self._chunk,
            endpoints.TRANSFER_CLOSE: self._close_transfer,
            endpoints.TRANSFER_DIRECT: self._offer_direct,
        }
        return {e: self._guarded(action) for e, action in actions.items()}

    def _guarded(self, action: Action) -> Handler:
        """``action`` for those who may see the catalog the subject names, only."""

        async def handle(subject: str, payload: bytes) -> Any:
            parts = subject.split(".")
            if len(parts) != 5:
                raise Refused("unknown endpoint", 404)
            requester, catalog = parts[0], parts[3]
            if catalog not in self.names:
                raise Refused("no such catalog here", 404)
            self.access.check(requester, catalog)
            return await action(requester, catalog, payload)

        return handle

    async def _summary(self, _requester: str, catalog: str, _payload: bytes) -> Any:
        info = await self._in_db(lambda c: c.info(catalog))
        return wire.CatalogSummary(
            name=catalog,
            owner=self.owner,
            description=info.description,
            revision=info.revision,
            files=info.files,
            bytes=info.bytes,
        ).model_dump()

    async def _chunk(self, requester: str, catalog: str, payload: bytes) -> Any:
        """The hot path: checked by ``_guarded``, then straight to disk."""
        request = wire.parse_request(payload, wire.TransferChunkRequest)
        return await self.transfers.chunk(requester, catalog, request)

    async def _close_transfer(self, requester: str, catalog: str, payload: bytes) -> Any:
        closing = wire.parse_request(payload, wire.TransferCloseRequest)
        self.transfers.close(requester, catalog, closing.transfer)
        return {"closed": True}

    async def _open_transfer(self, requester: str, catalog: str, payload: bytes) -> Any:
        request = wire.parse_request(payload, wire.TransferOpenRequest)

        def find(c: Catalogs) -> tuple[str, Entry] | None:
            if request.path is not None:
                entry = c.index.get(catalog, request.path)
            else:
                entry = next(iter(c.index.by_hash(catalog, request.hash or "")), None)
            return None if entry is None else (c.index.root_and_revision(catalog)[0], entry)

        found = await self._in_db(find)
        if found is None:
            what = "that hash" if request.path is None else "that path (a folder?)"
            raise Refused(f"no file in that catalog has {what}", 404)
        root, entry = found
        carried = self._link.max_payload if self._link else limits.HUB_MAX_PAYLOAD
        opened = self.transfers.open(requester, catalog, root, entry, request, carried)
        log.info("transfer %s: %s of %s to %s", opened.transfer[:8], entry.path, catalog, requester)
        return opened.model_dump()
