"""A shared file's bytes, decrypted on this machine, with HTTP Range (the player seeks)."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.responses import StreamingResponse

from natster.client import browse
from natster.client.transfer import Transfer
from natster.errors import NatsterError
from natster.names import is_hash

from ._ranges import RangeNotSatisfiable, disposition, parse_range, presentation
from ._state import State

FILE_CSP = (
    "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'"
)

Done = Callable[[bool], None]  # the response ended (failed or not): give the transfer back
router = APIRouter(prefix="/api")
log = logging.getLogger(__name__)


@router.api_route(
    "/files/{owner}/{catalog}/{file_hash}",
    methods=["GET", "HEAD"],
    response_class=StreamingResponse,
)
async def file(
    state: State,
    request: Request,
    owner: str,
    catalog: str,
    file_hash: str,
    download: bool = False,
    mime: str | None = Query(None, max_length=128),
) -> Response:
    """A file's bytes, decrypted here; honours ``Range`` (the player's seeking)."""
    if not is_hash(file_hash):
        return JSONResponse({"error": "that is not a sha256"}, status_code=400)
    ref = await state.ref_of(owner, catalog)
    key = (owner, catalog, file_hash)
    transfer = await state.open_files.take(key, Transfer(state.client, ref, file_hash).open)

    def done(failed: bool) -> None:
        state.open_files.give_back(key, transfer, failed=failed)

    try:  # from here on, the transfer is given back however the request ends
        return _response(request, transfer, mime, download, done)
    except BaseException:
        state.open_files.give_back(key, transfer, failed=True)
        raise


@router.get("/thumbs/{owner}/{catalog}/{file_hash}", response_class=Response)
async def thumb(state: State, owner: str, catalog: str, file_hash: str) -> Response:
    """A file's thumbnail (a small JPEG), made and sealed on its owner's machine."""
    if not is_hash(file_hash):
        return JSONResponse({"error": "that is not a sha256"}, status_code=400)
    ref = await state.ref_of(owner, catalog)  # checked first: an unshare ends the cache's use
    key = (owner, catalog, file_hash)
    jpeg = state.thumbs.get(key)
    if jpeg is None:
        jpeg = await browse.thumbnail(state.client, ref, file_hash)
        state.thumbs.put(key, jpeg)
    headers = {
        "Cache-Control": "private, max-age=86400",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": FILE_CSP,
    }
    return Response(jpeg, media_type="image/jpeg", headers=headers)


def _response(
    request: Request, transfer: Transfer, mime: str | None, download: bool, done: Done
) -> Response:
    """The answer for an opened file: its headers, and its bytes unless HEAD or 416."""
    size = transfer.size
    try:
        wanted = parse_range(request.headers.get("range"), size)
    except RangeNotSatisfiable:
        headers = {"Content-Range": f"bytes */{size}"}
        return _Closing(transfer, done, status_code=416, headers=headers)
    content_type, inline = presentation(transfer.path, mime)
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": disposition(transfer.path, inline and not download),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=3600",
        "X-Natster-Route": transfer.route,  # how its bytes come: "direct" or "via hub"
    }
    if content_type != "application/pdf":  # a sandboxed PDF would not display
        headers["Content-Security-Policy"] = FILE_CSP
    start, end, status = 0, size, 200
    if wanted is not None:
        start, end, status = wanted.start, wanted.end, 206
        headers["Content-Range"] = wanted.content_range(size)
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD":  # what a GET would answer, without the bytes
        return _Closing(
            transfer, done, status_code=status, headers=headers, media_type=content_type
        )
    body = transfer.read(start, end)
    return _Closing(transfer, done, body, status, headers=headers, media_type=content_type)


class _Closing(StreamingResponse):
    """A response that gives its file's transfer back when it ends, however it ends (sent,
    failed, or the browser gone before the first byte): kept for the next range, or
    closed if it failed."""

    def __init__(
        self, transfer: Transfer, done: Done, content: Any = (), *args: Any, **kwargs: Any
    ) -> None:
        super().__init__(content, *args, **kwargs)
        self._transfer, self._done, self._content = transfer, done, content
        self._failed = False

    async def stream_response(self, send: Any) -> None:
        """A share ended or the owner went away mid-stream: the response ends short
        (the player sees its source end) and the log says why in one line."""
        try:
            await super().stream_response(send)
        except NatsterError as exc:
            self._failed = True
            log.warning("stopped sending %s: %s", self._transfer.path, exc)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        except NatsterError:
            self._failed = True  # the browser going away (a seek) is no fault of the transfer
            raise
        finally:
            if isinstance(self._content, AsyncGenerator):  # its chunks in flight stop now
                await self._content.aclose()
            self._done(self._failed)
