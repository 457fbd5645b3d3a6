"""The web UI's ASGI app: pages, the JSON API under /api, media with HTTP Range.

It runs on the user's own machine with the user's own context (decryption stays on
their side) and calls the same client API as the CLI; no seed, creds or JWT is ever
sent to the browser.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.responses import StreamingResponse
from starlette.staticfiles import StaticFiles

from natster import errors, limits, wire
from natster.client import Home, NatsterClient, remote
from natster.client.library import library
from natster.client.remote import CatalogRef
from natster.client.stream import FileReader, OpenedFile
from natster.names import is_hash

from ._events import Broadcaster
from ._guard import COOKIE, CSRF_HEADER, Sessions, host_allowed, origin_allowed
from ._ranges import RangeNotSatisfiable, disposition, parse_range, presentation

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STATIC = resources.files("natster.web") / "static"
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; frame-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
FILE_CSP = (
    "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'"
)
SIGNED_OUT = """<!doctype html><meta charset="utf-8"><title>natster: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<body style="font-family:system-ui;max-width:36rem;margin:3rem auto;padding:0 1rem">
<h1>natster</h1><p>{message}</p>
<p>On the machine running <code>natster web</code>, run <code>natster login</code> and
follow the link it prints (or scan its QR code).</p></body>"""


def status_of(exc: errors.NatsterError) -> int:
    """The error's own status (see :mod:`natster.errors`); a peer's nonsense is a 502."""
    return exc.status if 400 <= exc.status < 600 else 502


class ShareBody(BaseModel):
    account: str = Field(min_length=56, max_length=56)


class ImportBody(BaseModel):
    owner: str = Field(min_length=56, max_length=56)
    catalog: str = Field(min_length=1, max_length=limits.MAX_CATALOG_NAME)
    alias: str | None = Field(default=None, max_length=limits.MAX_CATALOG_NAME)


class Me(BaseModel):
    account: str
    name: str
    hub: str
    csrf: str  # send back in the X-Natster-CSRF header on POST and DELETE


@dataclass
class _State:
    client: NatsterClient
    broadcaster: Broadcaster
    refs: dict[tuple[str, str], tuple[float, CatalogRef]]


def create_app(home: Home, *, port: int, names: frozenset[str] = frozenset()) -> Guarded:
    """The app for ``home``'s user; ``port`` and ``names`` are what Host may say."""
    sessions = Sessions()
    state: list[_State] = []
    broadcaster = Broadcaster()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        client = await NatsterClient.connect(home, reconnect=True)
        broadcaster.start(client)
        state.append(_State(client, broadcaster, {}))
        try:
            yield
        finally:
            await broadcaster.stop()
            await client.close()

    app = FastAPI(
        title="natster web",
        summary="The JSON API of natster's web UI (a session from `natster login` needed).",
        lifespan=lifespan,
        docs_url=None,  # the Swagger page loads from a CDN: no
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )

    def me() -> _State:
        return state[0]

    async def ref_of(owner: str, catalog: str) -> CatalogRef:
        cached = me().refs.get((owner, catalog))
        if cached and time.monotonic() - cached[0] < 5:
            return cached[1]
        ref = await remote.resolve(me().client, catalog, owner)
        me().refs[(owner, catalog)] = (time.monotonic(), ref)
        return ref

    @app.exception_handler(errors.NatsterError)
    async def natster_error(_request: Request, exc: errors.NatsterError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=status_of(exc))

    # --- pages -----------------------------------------------------------------------
    @app.get("/login", include_in_schema=False)
    async def login(code: str = Query(max_length=64)) -> Response:
        try:
            await me().client.otc_claim(code, client="natster web")
        except errors.RemoteError as exc:
            page = SIGNED_OUT.format(message="That sign-in link was already used or expired.")
            return HTMLResponse(page, status_code=401 if exc.status in (403, 404) else 502)
        session = sessions.create()
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            COOKIE,
            session.token,
            max_age=limits.WEB_SESSION_S,
            httponly=True,
            samesite="strict",
            path="/",
        )
        return response

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        page = (STATIC / "index.html").read_text(encoding="utf-8")
        return HTMLResponse(page, headers={"Content-Security-Policy": PAGE_CSP})

    app.mount("/static", StaticFiles(packages=[("natster.web", "static")]), name="static")

    # --- the API -----------------------------------------------------------------------
    @app.get("/api/me")
    async def whoami(request: Request) -> Me:
        """Who this UI acts as, and the CSRF token for changes."""
        client = me().client
        return Me(
            account=client.account,
            name=client.context.name,
            hub=client.context.url,
            csrf=request.state.session.csrf,
        )

    @app.get("/api/catalogs")
    async def catalogs() -> list[wire.LibraryItem]:
        """My library: my catalogs, the ones I imported and the ones in my inbox."""
        return await library(me().client)

    @app.get("/api/catalogs/{owner}/{catalog}/entries")
    async def entries(
        owner: str,
        catalog: str,
        prefix: str = Query("", max_length=limits.MAX_PATH_CHARS),
        q: str = Query("", max_length=256),
        after: str = Query("", max_length=limits.MAX_PATH_CHARS),
        limit: int = Query(limits.CONTENTS_PAGE, ge=1, le=limits.CONTENTS_PAGE_MAX),
    ) -> wire.ContentsPage:
        """One page of a catalog's entries in path order (``next`` is the next ``after``)."""
        ref = await ref_of(owner, catalog)
        return await remote.page(
            me().client, ref, prefix=prefix, search=q, after=after, limit=limit
        )

    @app.post("/api/catalogs/{catalog}/shares")
    async def share(catalog: str, body: ShareBody) -> wire.EventsPutReply:
        """Share my catalog with an account."""
        return await remote.share(me().client, catalog, body.account)

    @app.delete("/api/catalogs/{catalog}/shares/{account}")
    async def unshare(catalog: str, account: str) -> dict[str, bool]:
        """Stop sharing my catalog with an account."""
        await remote.unshare(me().client, catalog, account)
        return {"ok": True}

    @app.post("/api/imports")
    async def import_(body: ImportBody) -> wire.ImportedCatalog:
        """Import a catalog from my inbox."""
        return await remote.import_catalog(me().client, body.catalog, body.owner, body.alias)

    @app.get("/api/stats")
    async def stats() -> wire.Stats:
        """Platform numbers from the global service."""
        return await me().client.stats()

    @app.get("/api/events", response_class=StreamingResponse)
    async def events() -> StreamingResponse:
        """Server-sent events: ``feed`` (a catalog went online or offline, was shared,
        unshared or changed) and ``resync`` (missed events: fetch the library again)."""
        return StreamingResponse(
            me().broadcaster.stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @app.api_route(
        "/api/files/{owner}/{catalog}/{file_hash}",
        methods=["GET", "HEAD"],
        response_class=StreamingResponse,
    )
    async def file(
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
        ref = await ref_of(owner, catalog)
        reader = FileReader(me().client, ref, file_hash)
        opened = await reader.open()
        try:  # from here on, the transfer is closed however the request ends
            return _file_response(request, reader, opened, mime, download)
        except BaseException:
            await reader.close()
            raise

    return Guarded(app, sessions, broadcaster, port, names)


def _file_response(
    request: Request, reader: FileReader, opened: OpenedFile, mime: str | None, download: bool
) -> Response:
    """The answer for an opened file: its headers, and its bytes unless HEAD or 416."""
    try:
        wanted = parse_range(request.headers.get("range"), opened.size)
    except RangeNotSatisfiable:
        return _Closing(
            reader, status_code=416, headers={"Content-Range": f"bytes */{opened.size}"}
        )
    content_type, inline = presentation(opened.path, mime)
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": disposition(opened.path, inline and not download),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=3600",
    }
    if content_type != "application/pdf":  # a sandboxed PDF would not display
        headers["Content-Security-Policy"] = FILE_CSP
    start, end, status = 0, opened.size, 200
    if wanted is not None:
        start, end, status = wanted.start, wanted.end, 206
        headers["Content-Range"] = wanted.content_range(opened.size)
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD":  # what a GET would answer, without the bytes
        return _Closing(reader, status_code=status, headers=headers, media_type=content_type)
    body = reader.read(start, end)
    return _Closing(reader, body, status, headers=headers, media_type=content_type)


class _Closing(StreamingResponse):
    """A response that closes its file's transfer when it ends, however it ends (sent,
    failed, or the browser gone before the first byte)."""

    def __init__(self, reader: FileReader, content: Any = (), *args: Any, **kwargs: Any) -> None:
        super().__init__(content, *args, **kwargs)
        self._reader = reader

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._reader.close()


class Guarded:
    """The app behind its checks: the Host on everything, a session on everything but
    /login, the CSRF token on changes."""

    def __init__(
        self,
        app: FastAPI,
        sessions: Sessions,
        broadcaster: Broadcaster,
        port: int,
        names: frozenset[str],
    ) -> None:
        self.app, self.sessions, self.broadcaster = app, sessions, broadcaster
        self.port, self.names = port, names

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)  # routes, openapi(), state: the app's own

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        host = request.headers.get("host", "")
        if not host_allowed(host, self.port, self.names):
            await _plain(403, "this server does not answer to that Host name")(scope, receive, send)
            return
        if scope["path"] == "/login" and request.method == "GET":
            await self.app(scope, receive, send)
            return
        session = self.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            if scope["path"].startswith("/api/"):
                response: Response = JSONResponse(
                    {"error": "sign in first: run `natster login`"}, status_code=401
                )
            else:
                response = HTMLResponse(
                    SIGNED_OUT.format(message="This browser is not signed in."), status_code=401
                )
            await response(scope, receive, send)
            return
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            token = request.headers.get(CSRF_HEADER)
            if token != session.csrf or not origin_allowed(request.headers.get("origin"), host):
                await _plain(403, "missing or wrong CSRF token")(scope, receive, send)
                return
        scope.setdefault("state", {})["session"] = session
        await self.app(scope, receive, send)


def _plain(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)
