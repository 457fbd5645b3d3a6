"""The catalog server's browsing side: contents, folders, search, thumbnails, media facts.

Requests reach here already checked for access (``CatalogServer._handle``). Index reads
run on the server's one database thread; thumbnails and media facts are made on
``THUMB_WORKERS`` threads of lowered priority, so they never starve a transfer. Facts
are computed in the background after each scan (a scan never waits for them).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from natster import limits, wire
from natster.catalog import Catalogs, Entry, browse, check_relpath, media, resolve_inside
from natster.catalog.facts import Facts, kind_of, probe
from natster.catalog.thumbs import Thumbnails
from natster.errors import Refused, UnsafePath
from natster.security import XKey

log = logging.getLogger(__name__)
T = TypeVar("T")
InDb = Callable[[Callable[[Catalogs], T]], Awaitable[T]]


def _lower_thread_priority() -> None:
    """A worker thread's own niceness (Linux threads are scheduled one by one)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), limits.MEDIA_NICE)


def _seconds(mtime_ns: int) -> int | None:
    return mtime_ns // 1_000_000_000 if mtime_ns > 0 else None


def entry_row(listed: browse.Listed) -> wire.EntryRow:
    e, facts = listed.entry, listed.facts
    return wire.EntryRow(
        path=e.path,
        size=e.size,
        hash=e.hash,
        mime=e.mime,
        description=e.description,
        mtime=_seconds(e.mtime_ns),
        media=_media(facts),
    )


def _media(facts: Facts | None) -> wire.MediaInfo | None:
    if facts is None:
        return None
    try:  # the same fields, by name
        return wire.MediaInfo.model_validate(facts, from_attributes=True)
    except ValueError:  # a fact out of bounds (a broken file's header): say nothing
        return wire.MediaInfo(kind=facts.kind)


class Browsing:
    def __init__(self, home: Path, in_db: InDb[Any]) -> None:
        self._in_db = in_db
        self.thumbs = Thumbnails(home)
        self._work = ThreadPoolExecutor(
            limits.THUMB_WORKERS,
            thread_name_prefix="natster-media",
            initializer=_lower_thread_priority,
        )

    def close(self) -> None:
        self._work.shutdown(wait=False, cancel_futures=True)

    async def _on_worker(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._work, fn)

    # --- requests ------------------------------------------------------------------------
    async def folder(self, catalog: str, payload: bytes) -> Any:
        request = wire.parse_request(payload or b"{}", wire.FolderRequest)
        path = request.path.strip("/")
        if path:
            _check(path)

        def query(c: Catalogs) -> tuple[browse.FolderListing, int]:
            revision = c.index.root_and_revision(catalog)[1]
            listing = browse.folder(
                c.index,
                catalog,
                path,
                sort=request.sort,
                reverse=request.reverse,
                offset=request.offset,
                limit=request.limit,
            )
            return listing, revision

        listing, revision = await self._in_db(query)
        shown = len(listing.folders) + len(listing.files)
        end = request.offset + shown
        return wire.FolderPage(
            folders=[
                wire.FolderRow(
                    path=f.path,
                    files=f.files,
                    bytes=f.bytes,
                    mtime=_seconds(f.mtime_ns),
                )
                for f in listing.folders
            ],
            entries=[entry_row(listed) for listed in listing.files],
            total=listing.total,
            next=end if shown and end < listing.total else None,
            revision=revision,
        ).model_dump()

    async def contents(self, catalog: str, payload: bytes) -> Any:
        request = _page_request(payload)
        if request.text or request.kind:
            raise Refused("contents lists everything: search with the search endpoint")

        def query(c: Catalogs) -> tuple[list[Entry], int]:
            rows = c.index.page(catalog, request.after, request.limit, request.prefix)
            return rows, c.index.root_and_revision(catalog)[1]

        rows, revision = await self._in_db(query)
        return _contents_page([browse.Listed(e, None) for e in rows], request, revision)

    async def search(self, catalog: str, payload: bytes) -> Any:
        request = _page_request(payload)
        text = request.text.strip()
        if not text:
            raise Refused("search needs some text")
        if len(text.split()) > limits.SEARCH_WORDS:
            raise Refused(f"search for at most {limits.SEARCH_WORDS} words at once")

        def query(c: Catalogs) -> tuple[list[browse.Listed], int]:
            rows = browse.search(
                c.index,
                catalog,
                text,
                kind=request.kind,
                prefix=request.prefix,
                after=request.after,
                limit=request.limit,
            )
            return rows, c.index.root_and_revision(catalog)[1]

        rows, revision = await self._in_db(query)
        return _contents_page(rows, request, revision)

    async def thumbnail(self, catalog: str, payload: bytes) -> Any:
        request = wire.parse_request(payload, wire.ThumbnailRequest)

        def find(c: Catalogs) -> tuple[Path, str, str, Facts | None] | None:
            entries = c.index.by_hash(catalog, request.hash)
            if not entries:
                return None
            root = c.index.root_and_revision(catalog)[0]
            facts = media.facts_of(c.index, request.hash)
            return Path(root), entries[0].path, entries[0].mime, facts

        found = await self._in_db(find)
        if found is None:
            raise Refused("no file in that catalog has that hash", 404)
        root, path, mime, facts = found
        if kind_of(mime) is None:
            raise Refused("that file has no picture", 404)
        try:
            source = resolve_inside(root, path)
        except UnsafePath as exc:
            raise Refused(str(exc), 404) from exc
        jpeg = await self._on_worker(lambda: self.thumbs.get(source, request.hash, mime, facts))
        if jpeg is None:
            raise Refused("that file has no picture", 404)
        mine = XKey.create()  # this reply's only: a fresh key every time
        sealed = mine.channel(request.xkey).seal(jpeg, aad=wire.thumb_aad(request.hash))
        data = base64.b64encode(sealed).decode()
        return wire.Thumbnail(xkey=mine.public_key, data=data).model_dump()

    # --- background: media facts -----------------------------------------------------------
    async def compute_facts(self, catalog: str) -> int:
        """Facts of every media file of ``catalog`` that has none yet; how many found."""
        done = 0
        while True:
            batch = await self._in_db(lambda c: media.missing(c.index, catalog, limits.FACTS_BATCH))
            if not batch:
                return done
            root = Path((await self._in_db(lambda c: c.index.root_and_revision(catalog)))[0])

            def measure(
                items: list[tuple[str, str, str]] = batch, root: Path = root
            ) -> list[tuple[str, Facts]]:
                found = []
                for path, digest, mime in items:
                    try:
                        facts = probe(resolve_inside(root, path), mime)
                    except UnsafePath:
                        facts = None
                    kind = kind_of(mime)
                    if facts is None and kind is not None:
                        facts = Facts(kind)  # known by type only: not tried again
                    if facts is not None:
                        found.append((digest, facts))
                return found

            found = await self._on_worker(measure)
            await self._in_db(lambda c, f=found: _record(c, f))  # type: ignore[misc]
            done += len(found)


def _record(c: Catalogs, found: list[tuple[str, Facts]]) -> None:
    with c.index.transaction():
        media.record(c.index, found)


def _page_request(payload: bytes) -> wire.ContentsRequest:
    """A contents or search request, its ``after`` and ``prefix`` safe catalog paths."""
    request = wire.parse_request(payload or b"{}", wire.ContentsRequest)
    for value in (request.after, request.prefix.rstrip("/")):
        if value:
            _check(value)
    return request


def _contents_page(rows: list[browse.Listed], request: wire.ContentsRequest, revision: int) -> Any:
    """One page in path order: ``next`` is its last path when the page is full."""
    entries = [entry_row(listed) for listed in rows]
    last = entries[-1].path if len(entries) == request.limit else None
    return wire.ContentsPage(entries=entries, next=last, revision=revision).model_dump()


def _check(path: str) -> None:
    try:
        check_relpath(path)
    except UnsafePath as exc:
        raise Refused(str(exc)) from exc
