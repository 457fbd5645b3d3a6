"""The hub's web app (``hub up --web-port``): the same page as ``natster web``, served
over HTTPS with the hub's certificate, whose service worker speaks NATS over wss.

This server holds no session and decrypts nothing: it serves static files, tells the
page where the hub's WebSocket listener is (``_hub_site``), and signs a sign-in page's
guest JWT (``_hub_signin``). Everything else happens in the browser. Here: the app put
together behind its Host check, and its HTTPS server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Generator
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from natster import limits
from natster._quiet import quietly
from natster._rate import RateLimit
from natster.errors import HubError, Refused
from natster.hub import HubDir
from natster.hub.entry.guests import signin_key
from natster.hub.tls import TlsFiles

from . import _hub_signin, _hub_site
from ._hub_signin import Guests
from ._hub_site import COMMON, Site, canonical

log = logging.getLogger(__name__)

CERT_CHECK_S = 300.0  # a renewed certificate is picked up within this long


def create_hub_app(hub: HubDir, *, ws_port: int, names: list[str], secure: bool = True) -> ASGIApp:
    """The app for the hub in ``hub`` whose WebSocket listener is ``ws_port``, reached
    by one of ``names`` (tls.web_names: its certificate's, the advertised host)."""
    known = {canonical(name): name for name in names}
    app = Starlette(
        routes=[*_hub_site.routes, *_hub_signin.routes],
        exception_handlers={Refused: _refused},
    )
    app.state.site = Site(known, ws_port, secure)
    app.state.guests = Guests(
        signin_key(hub.seed("operator-signing")),
        RateLimit("sign-ins from this address", limits.GUESTS_RATE),
    )
    return _only_names(app, known)


async def _refused(_request: Request, exc: Exception) -> Response:
    status = exc.status if isinstance(exc, Refused) else 500
    return JSONResponse({"error": str(exc)}, status_code=status, headers=COMMON)


def _only_names(app: ASGIApp, known: dict[str, str]) -> ASGIApp:
    """Every request names one of the hub's names as its Host, or is refused (421): the
    page's policy and config name only those, and a rebound DNS name reaches nothing."""
    refusal = f"this hub's web app answers only to {', '.join(known.values())}"

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = Request(scope).url.hostname or ""
            if canonical(host) not in known:
                response = JSONResponse({"error": refusal}, status_code=421, headers=COMMON)
                await response(scope, receive, send)
                return
        await app(scope, receive, send)

    return guarded


def _ssl_context(files: TlsFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.cert, files.key)
    return context


class _Quiet(uvicorn.Server):
    """uvicorn inside the hub's process: the hub handles Ctrl-C, not uvicorn."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class HubWeb:
    """The web app's HTTPS server: ``await start()``, ``await stop()``."""

    def __init__(
        self,
        hub: HubDir,
        host: str,
        port: int,
        ws_port: int,
        files: TlsFiles | None,
        names: list[str],
    ) -> None:
        app = create_hub_app(hub, ws_port=ws_port, names=names, secure=files is not None)
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", server_header=False
        )
        config.load()
        self._files = files
        self._context = None if files is None else _ssl_context(files)
        config.ssl = self._context  # uvicorn serves TLS with this context (None: plain)
        self._server = _Quiet(config)
        self._serving: asyncio.Task[None] | None = None
        self._watching: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._serving = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._serving.done():  # it could not listen: say why
                self._serving.result()
                raise HubError(f"the web app could not listen on port {self._server.config.port}")
            await asyncio.sleep(0.02)
        if self._files is not None and self._context is not None:
            self._watching = asyncio.create_task(_reload_when_renewed(self._context, self._files))

    async def stop(self) -> None:
        if self._watching is not None:
            self._watching.cancel()
        self._server.should_exit = True
        for task in (self._watching, self._serving):
            if task is not None:
                with (
                    contextlib.suppress(asyncio.CancelledError),
                    quietly(log, "stopping the web app"),
                ):
                    await asyncio.wait_for(task, limits.WEB_SHUTDOWN_S + 1)
        self._watching = self._serving = None


async def _reload_when_renewed(context: ssl.SSLContext, files: TlsFiles) -> None:
    """``hub tls rotate`` (or the twice-daily renewal) writes new files: load them."""
    seen = _mtime(files.cert)
    while True:
        await asyncio.sleep(CERT_CHECK_S)
        now = _mtime(files.cert)
        if now != seen:
            try:
                context.load_cert_chain(files.cert, files.key)
            except (OSError, ssl.SSLError) as exc:
                log.warning("could not load the renewed certificate for the web app: %s", exc)
                continue
            seen = now
            log.info("the web app serves the renewed certificate")


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
