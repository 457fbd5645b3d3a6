"""The hub web app's page: the same files as ``natster web``'s, the page's policy, and
where the hub's WebSocket listener is (for the name the browser used)."""

from __future__ import annotations

import contextlib
import ipaddress
from dataclasses import dataclass
from importlib import resources

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from natster._net import url_host

STATIC = resources.files("natster.web") / "static"
PAGE_FILES = frozenset(  # the page's modules and style (sw.js is served at /sw.js only)
    f.name for f in STATIC.iterdir() if f.name.endswith((".js", ".css")) and f.name != "sw.js"
)
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=31536000",
}


def canonical(name: str) -> str:
    """A host name as compared: an address in its one form, a name in lower case."""
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(name))
    return name.lower()


@dataclass(frozen=True)
class Site:
    """The hub's names (tls.web_names: its certificate's, the advertised host), each
    canonical form to the name as configured, and its WebSocket listener."""

    known: dict[str, str]
    ws_port: int
    secure: bool

    def hostname(self, request: Request) -> str:
        """The hub's name the browser used, as configured (never the Host echoed)."""
        return url_host(self.known[canonical(request.url.hostname or "")])  # checked first

    def ws_url(self, request: Request) -> str:
        return f"{'wss' if self.secure else 'ws'}://{self.hostname(request)}:{self.ws_port}"

    def page_csp(self, request: Request) -> str:
        return (
            f"default-src 'self'; connect-src 'self' {self.ws_url(request)}; img-src 'self' "
            "data: blob:; media-src 'self' blob:; frame-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )


def _site(request: Request) -> Site:
    site: Site = request.app.state.site
    return site


async def index(request: Request) -> Response:
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    page = page.replace('<html lang="en">', '<html lang="en" data-mode="hosted">', 1)
    headers = {**COMMON, "Content-Security-Policy": _site(request).page_csp(request)}
    return Response(page, media_type="text/html", headers=headers)


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in PAGE_FILES:
        return JSONResponse({"error": "no such file"}, status_code=404)
    media = "text/javascript" if name.endswith(".js") else "text/css"
    body = (STATIC / name).read_bytes()
    return Response(body, media_type=media, headers={**COMMON, "Cache-Control": "no-cache"})


async def worker(request: Request) -> Response:
    headers = {
        **COMMON,
        "Cache-Control": "no-cache",
        "Service-Worker-Allowed": "/",
        # the worker's own policy: its NATS connection, and libsodium's WebAssembly
        "Content-Security-Policy": (
            f"default-src 'self'; connect-src 'self' {_site(request).ws_url(request)}; "
            "script-src 'self' 'wasm-unsafe-eval'"
        ),
    }
    body = (STATIC / "sw.js").read_bytes()
    return Response(body, media_type="text/javascript", headers=headers)


async def config(request: Request) -> Response:
    body = {"servers": [_site(request).ws_url(request)]}
    return JSONResponse(body, headers={**COMMON, "Cache-Control": "no-store"})


routes = [
    Route("/", index),
    Route("/static/{name}", static),
    Route("/sw.js", worker),
    Route("/config.json", config),
]
