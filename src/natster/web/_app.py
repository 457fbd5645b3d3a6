"""The web UI's ASGI app: pages, the JSON API under /api, media with HTTP Range.

It runs on the user's own machine with the user's own client (decryption stays on
their side) and calls the same client API as the CLI; no seed, creds or JWT is ever
sent to the browser. The routes live by concern in ``_pages``, ``_api`` and ``_files``;
here they are put together behind :class:`Guarded`, the checks every request passes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles

from natster import errors
from natster.client import NatsterClient

from . import _api, _files, _pages
from ._guard import COOKIE, CSRF_HEADER, SIGNED_OUT, host_allowed, origin_allowed
from ._state import WebState

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def status_of(exc: errors.NatsterError) -> int:
    """The error's own status (see :mod:`natster.errors`); a peer's nonsense is a 502."""
    return exc.status if 400 <= exc.status < 600 else 502


async def _natster_error(_request: Request, exc: Exception) -> Response:
    status = status_of(exc) if isinstance(exc, errors.NatsterError) else 500
    return JSONResponse({"error": str(exc)}, status_code=status)


def create_app(client: NatsterClient, *, port: int, names: frozenset[str] = frozenset()) -> Guarded:
    """The app acting as ``client``'s user (the caller connects and closes it); ``port``
    and ``names`` are what the Host header may say."""
    state = WebState(client)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.broadcaster.start(client)
        try:
            yield
        finally:
            await state.broadcaster.stop()
            await state.open_files.close_all()

    app = FastAPI(
        title="natster web",
        summary="The JSON API of natster's web UI (a session from `natster login` needed).",
        lifespan=lifespan,
        docs_url=None,  # the Swagger page loads from a CDN: no
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.natster = state
    app.add_exception_handler(errors.NatsterError, _natster_error)
    app.include_router(_pages.router)
    app.include_router(_api.router)
    app.include_router(_files.router)
    app.mount("/static", StaticFiles(packages=[("natster.web", "static")]), name="static")
    return Guarded(app, state, port, names)


class Guarded:
    """The app behind its checks: the Host on everything, a session on everything but
    /login, the CSRF token on changes."""

    def __init__(self, app: FastAPI, state: WebState, port: int, names: frozenset[str]) -> None:
        self.app, self.state, self.port, self.names = app, state, port, names

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)  # routes, openapi(): the app's own

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
        session = self.state.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            if scope["path"].startswith("/api/"):
                response: Response = _plain(401, "sign in first: run `natster login`")
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
