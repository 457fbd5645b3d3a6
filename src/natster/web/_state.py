"""What every route of the web UI shares: the client, sessions, the feed, a ref cache."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from natster.client import NatsterClient, remote
from natster.client.remote import CatalogRef

from ._events import Broadcaster
from ._guard import Sessions

REF_CACHE_S = 5.0  # a catalog's route is looked up again after this (an unshare shows)


@dataclass
class WebState:
    client: NatsterClient
    sessions: Sessions = field(default_factory=Sessions)
    broadcaster: Broadcaster = field(default_factory=Broadcaster)
    _refs: dict[tuple[str, str], tuple[float, CatalogRef]] = field(default_factory=dict)

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
