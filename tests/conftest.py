"""Fixtures: real nats-server hubs on free ports in temporary directories."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from natster.client import Home, join
from natster.hub import Hub, HubDir, HubInfo, mint_invite
from natster.services.platform import Platform

NATSTER = [sys.executable, "-m", "natster"]


def natster(
    *args: str,
    home: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """The natster command as people run it (``home``: its NATSTER_HOME; ``input``: stdin)."""
    full = {**os.environ, **(env or {})}
    if home is not None:
        full["NATSTER_HOME"] = str(home)
    return subprocess.run(
        [*NATSTER, *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=timeout,
        check=False,
        input=input if input is not None else "",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningHub:
    hub: Hub
    info: HubInfo
    dir: HubDir
    platform: Platform

    async def invite(self, ttl: float = 3600) -> str:
        return (await mint_invite(self.dir, ttl)).encode()


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    """A whole platform: nats-server, the account service and one global service."""
    platform = Platform(tmp_path / "hub", port=free_port())
    info = await platform.start()
    try:
        yield RunningHub(platform.hub, info, platform.dir, platform)
    finally:
        await platform.stop()


JoinUser = Callable[[str], Awaitable[Home]]


@pytest.fixture
def join_user(hub: RunningHub, tmp_path: Path) -> JoinUser:
    async def make(name: str) -> Home:
        home = Home(tmp_path / f"home-{name}")
        await join(await hub.invite(), home=home, name=name)
        return home

    return make
