"""What every route of the web UI shares: the client, sessions, the feed, a ref cache."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from natster import limits
from natster.client import NatsterClient, remote
from natster.client.remote import CatalogRef

from ._events import Broadcaster
from ._guard import Sessions
from ._open import OpenFiles

REF_CACHE_S = 5.0  # a catalog's route is looked up again after this (an unshare shows)


class Thumbs:
    """Thumbnails already opened here, in memory only, the least recently used dropped
    past ``limits.WEB_THUMBS_BYTES`` (asked for again, they come from the owner's cache)."""

    def __init__(self) -> None:
        self._kept: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()
        self._bytes = 0

    def get(self, key: tuple[str, str, str]) -> bytes | None:
        found = self._kept.get(key)
        if found is not None:
            self._kept.move_to_end(key)
        return found

    def put(self, key: tuple[str, str, str], jpeg: bytes) -> None:
        if key in self._kept:
            return
        self._kept[key] = jpeg
        self._bytes += len(jpeg)
        while self._bytes > limits.WEB_THUMBS_BYTES:
            _, dropped = self._kept.popitem(last=False)
            self._bytes -= len(dropped)


@dataclass
class WebState:
    client: NatsterClient
    sessions: Sessions = field(default_factory=Sessions)
    broadcaster: Broadcaster = field(default_factory=Broadcaster)
    _refs: dict[tuple[str, str], tuple[float, CatalogRef]] = field(default_factory=dict)
    thumbs: Thumbs = field(default_factory=Thumbs)
    open_files: OpenFiles = field(default_factory=OpenFiles)

    async def ref_of(self, owner: str, catalog: str) -> CatalogRef:
        """The route to ``owner``'s ``catalog`` (NotShared and friends if there is none)."""
        cached = self._refs.get((owner, catalog))
        if cached and time.monotonic() - cached[0] < REF_CACHE_S:
            return cached[1]
        ref = await remote.resolve(self.client, catalog, owner)
        self._refs[(owner, catalog)] = (time.monotonic(), ref)
        return ref


def _web_state(request: Request) -> WebState:
    state: WebState = request.app.state.natster
    return state


State = Annotated[WebState, Depends(_web_state)]
