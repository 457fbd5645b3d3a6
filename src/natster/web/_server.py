"""Running the web UI: uvicorn, plus ``web.json`` so ``natster login`` finds it."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import uvicorn

from natster import limits
from natster._fs import write_atomic
from natster._heap import settle
from natster._net import lan_address, url_host
from natster.client import Home, NatsterClient

from ._app import Guarded, create_app

STATE_FILE = "web.json"


def allowed_names(host: str) -> frozenset[str]:
    """Host names the UI answers to besides IP addresses and localhost."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return frozenset({host}) if host not in ("", "localhost") else frozenset()
    return frozenset()


def url_for(host: str, port: int) -> str:
    """The address to print: on all interfaces, the one a phone on the network can use."""
    shown = lan_address() if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    return f"http://{url_host(shown)}:{port}"


def running_url(home: Home) -> str | None:
    """The address of this user's running ``natster web``, if it is running."""
    try:
        state = json.loads((home.path / STATE_FILE).read_text())
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(state["url"])


class _Server(uvicorn.Server):
    """uvicorn, ending open event streams first on Ctrl-C (they would never end)."""

    def __init__(
        self, config: uvicorn.Config, app: Guarded, ready: Callable[[], None] | None
    ) -> None:
        super().__init__(config)
        self._app = app
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self._ready is not None:  # listening now
            self._ready()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        with contextlib.suppress(RuntimeError):  # no loop running: nothing is open
            asyncio.get_running_loop().call_soon_threadsafe(self._app.state.broadcaster.end_streams)
        super().handle_exit(sig, frame)


async def serve(
    home: Home,
    host: str,
    port: int,
    *,
    log_level: str = "warning",
    ready: Callable[[], None] | None = None,
) -> None:
    """Serve the UI until cancelled (Ctrl-C); ``ready`` is called once it listens (and
    ``natster login`` finds it)."""
    async with await NatsterClient.connect(home, reconnect=True) as client:
        app = create_app(client, port=port, names=allowed_names(host))
        await _serve(app, home, host, port, log_level, ready)


async def _serve(
    app: Guarded,
    home: Home,
    host: str,
    port: int,
    log_level: str,
    ready: Callable[[], None] | None,
) -> None:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=limits.WEB_SHUTDOWN_S,  # open event streams never end
    )
    server = _Server(config, app, ready)
    settle()
    state = home.path / STATE_FILE
    write_atomic(state, json.dumps({"url": url_for(host, port), "pid": os.getpid()}).encode())
    try:
        await server.serve()
    finally:
        with contextlib.suppress(OSError):
            if json.loads(state.read_text()).get("pid") == os.getpid():
                Path(state).unlink()
