"""My own catalogs read from this machine's index while no catalog server answers for
them: their contents, folders and search need nothing from the hub or a server.

Only my own catalogs (a ``CatalogRef`` with ``local``), and only what reads the index:
files, thumbnails and media facts still come from a running ``catalog serve``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from natster import endpoints
from natster.catalog import Catalogs
from natster.endpoints import Endpoint
from natster.services.browsing import Browsing

__all__ = ["answer_unserved", "answers_unserved"]

T = TypeVar("T")


# what reads only the index, and the catalog server's method that answers it
_ANSWERED: dict[Endpoint[Any], Callable[[Browsing, str, bytes], Awaitable[Any]]] = {
    endpoints.CONTENTS: Browsing.contents,
    endpoints.FOLDER: Browsing.folder,
    endpoints.SEARCH: Browsing.search,
}


def answers_unserved(endpoint: Endpoint[Any]) -> bool:
    """Whether ``endpoint`` is answered from the index when my catalog is not served."""
    return endpoint in _ANSWERED


async def answer_unserved(home: Path, catalog: str, endpoint: Endpoint[Any], body: bytes) -> Any:
    """The answer a catalog server would give to ``body`` on ``endpoint`` for my catalog,
    read from the index here (requests are checked as the server checks them)."""

    async def in_db(fn: Callable[[Catalogs], T]) -> T:
        def run() -> T:
            with Catalogs(home) as catalogs:
                return fn(catalogs)

        return await asyncio.to_thread(run)

    browsing = Browsing(home, in_db)
    try:
        return await _ANSWERED[endpoint](browsing, catalog, body)
    finally:
        browsing.close()
