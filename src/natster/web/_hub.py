"""The hub's web app (``hub up --web-port``): the same page as ``natster web``, served
over HTTPS with the hub's certificate, whose service worker speaks NATS over wss.

This server holds no session and decrypts nothing: it serves static files, tells the
page where the hub's WebSocket listener is, and signs a sign-in page's guest JWT (for
the key the page made; see docs/protocol.md "Signing a browser in"), at most a few a
minute per address. Everything else happens in the browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import ipaddress
import logging
import re
import ssl
import time
from collections.abc import Generator
from importlib import resources
from pathlib import Path

import segno
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from natster import limits, wire
from natster._net import url_host
from natster._quiet import quietly
from natster._rate import RateLimit, address_of
from natster.errors import HubError, Refused
from natster.hub import HubDir
from natster.hub.guests import signin_key
from natster.hub.invites import signin_guest
from natster.hub.tls import TlsFiles

log = logging.getLogger(__name__)

STATIC = resources.files("natster.web") / "static"
PAGE_FILES = frozenset(  # the page's modules and style (sw.js is served at /sw.js only)
    f.name for f in STATIC.iterdir() if f.name.endswith((".js", ".css")) and f.name != "sw.js"
)
CERT_CHECK_S = 300.0  # a renewed certificate is picked up within this long
_COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=31536000",
}


def _canonical(name: str) -> str:
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(name))
    return name.lower()


def create_hub_app(hub: HubDir, *, ws_port: int, names: list[str], secure: bool = True) -> ASGIApp:
    """The app for the hub in ``hub`` whose WebSocket listener is ``ws_port``, reached
    by one of ``names`` (tls.web_names: its certificate's, the advertised host)."""
    guests = RateLimit("sign-ins from this address", limits.GUESTS_PER_MINUTE, limits.GUESTS_BURST)
    scheme = "wss" if secure else "ws"
    known = {_canonical(name): name for name in names}

    def hostname(request: Request) -> str:
        """The hub's name the browser used, as configured (never the Host echoed)."""
        return url_host(known[_canonical(request.url.hostname or "")])  # _only_names checked it

    def ws_url(request: Request) -> str:
        return f"{scheme}://{hostname(request)}:{ws_port}"

    def page_csp(request: Request) -> str:
        return (
            f"default-src 'self'; connect-src 'self' {ws_url(request)}; img-src 'self' data: "
            "blob:; media-src 'self' blob:; frame-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )

    async def index(request: Request) -> Response:
        page = (STATIC / "index.html").read_text(encoding="utf-8")
        page = page.replace('<html lang="en">', '<html lang="en" data-mode="hosted">', 1)
        headers = {**_COMMON, "Content-Security-Policy": page_csp(request)}
        return Response(page, media_type="text/html", headers=headers)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in PAGE_FILES:
            return JSONResponse({"error": "no such file"}, status_code=404)
        media = "text/javascript" if name.endswith(".js") else "text/css"
        body = (STATIC / name).read_bytes()
        return Response(body, media_type=media, headers={**_COMMON, "Cache-Control": "no-cache"})

    async def worker(request: Request) -> Response:
        headers = {
            **_COMMON,
            "Cache-Control": "no-cache",
            "Service-Worker-Allowed": "/",
            # the worker's own policy: its NATS connection, and libsodium's WebAssembly
            "Content-Security-Policy": (
                f"default-src 'self'; connect-src 'self' {ws_url(request)}; "
                "script-src 'self' 'wasm-unsafe-eval'"
            ),
        }
        body = (STATIC / "sw.js").read_bytes()
        return Response(body, media_type="text/javascript", headers=headers)

    async def config(request: Request) -> Response:
        body = {"servers": [ws_url(request)]}
        return JSONResponse(body, headers={**_COMMON, "Cache-Control": "no-store"})

    async def guest(request: Request) -> Response:
        address = address_of(request.client.host) if request.client else "?"
        guests.spend(address)
        body = bytearray()
        async for piece in request.stream():  # never more than a request may be
            body += piece
            if len(body) > limits.MAX_REQUEST_BYTES:
                raise Refused(f"request too large (over {limits.MAX_REQUEST_BYTES} bytes)", 413)
        offer = wire.parse_request(bytes(body), _GuestRequest)
        expires = int(time.time()) + limits.SIGNIN_TTL_S + 60
        jwt = signin_guest(signin_key(hub.seed("operator-signing")), offer.user, expires)
        return JSONResponse({"jwt": jwt}, headers={**_COMMON, "Cache-Control": "no-store"})

    async def qr(request: Request) -> Response:
        code = request.query_params.get("code", "")
        if not re.fullmatch(wire.SIGNIN_CODE, code):
            raise Refused("that is not a sign-in code", 400)
        svg = io.BytesIO()
        segno.make(f"natster login {code}", error="m").save(svg, kind="svg", scale=6, border=2)
        return Response(
            svg.getvalue(),
            media_type="image/svg+xml",
            headers={**_COMMON, "Cache-Control": "no-store"},
        )

    async def refused(_request: Request, exc: Exception) -> Response:
        status = exc.status if isinstance(exc, Refused) else 500
        return JSONResponse({"error": str(exc)}, status_code=status, headers=_COMMON)

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/static/{name}", static),
            Route("/sw.js", worker),
            Route("/config.json", config),
            Route("/signin/guest", guest, methods=["POST"]),
            Route("/signin/qr.svg", qr),
        ],
        exception_handlers={Refused: refused},
    )
    return _only_names(app, known)


def _only_names(app: ASGIApp, known: dict[str, str]) -> ASGIApp:
    """Every request names one of the hub's names as its Host, or is refused (421): the
    page's policy and config name only those, and a rebound DNS name reaches nothing."""
    refusal = f"this hub's web app answers only to {', '.join(known.values())}"

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = Request(scope).url.hostname or ""
            if _canonical(host) not in known:
                response = JSONResponse({"error": refusal}, status_code=421, headers=_COMMON)
                await response(scope, receive, send)
                return
        await app(scope, receive, send)

    return guarded


class _GuestRequest(wire.Request):
    user: str = wire.UserKeyField


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
