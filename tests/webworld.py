"""A whole natster world in real processes, for the web UI's tests.

A hub (`natster hub up`), alice and bob (`natster init`), alice's catalogs of real media
shared with bob and served (`natster catalog serve`), bob's `natster web`, and sign-in
links from `natster login`: exactly what a person runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import imageio_ffmpeg
from scripts.media import make_media

from . import warm_cli
from .conftest import NATSTER, free_port, natster


def run(*args: str, home: Path | None = None) -> str:
    """``natster ARGS``'s output; a failure fails the test."""
    result = natster(*args, home=home)
    if result.returncode != 0:
        raise AssertionError(f"natster {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def start(
    args: list[str], home: Path | None, log: Path, ready: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = {**os.environ, **(env or {}), **({"NATSTER_HOME": str(home)} if home else {})}
    proc = warm_cli.Popen(
        [*NATSTER, *args], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    while ready not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"natster {' '.join(args)} did not start: {log.read_text()}")
        time.sleep(0.05)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class World:
    base: Path
    alice: Path
    bob: Path
    media: Path
    web_port: int
    alice_key: str
    bob_key: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    hub_web_port: int | None = None  # the hub's web app (HTTPS), if it serves one

    @property
    def hub_dir(self) -> Path:
        return self.base / "hub"

    @property
    def hub_url(self) -> str:
        return f"https://localhost:{self.hub_web_port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def login_link(self) -> str:
        """A fresh single-use sign-in link, as `natster login --no-browser` prints it."""
        link = run("login", "--no-browser", home=self.bob).strip().splitlines()[-1]
        assert link.startswith(self.url + "/login?code="), link
        return link

    def serve(self) -> None:
        self.processes["serve"] = start(  # with ffmpeg, as if installed: film thumbnails
            ["catalog", "serve", "demo", "extra"],
            self.alice,
            self.base / "serve.log",
            "serving",
            env={"NATSTER_FFMPEG": imageio_ffmpeg.get_ffmpeg_exe()},
        )

    def stop_serving(self) -> None:
        stop(self.processes.pop("serve"))

    def hub_down(self) -> None:
        stop(self.processes.pop("hub"))

    def hub_up(self) -> None:
        """The hub again, as it was (its ports and web app are in its directory)."""
        self.processes["hub"] = start(
            ["hub", "up", "--dir", str(self.hub_dir)], None, self.base / "hub-again.log",
            "invite someone",
        )  # fmt: skip

    def close(self) -> None:
        for name in ("web", "serve", "hub"):
            if name in self.processes:
                stop(self.processes.pop(name))


def _account(home: Path) -> str:
    return str(json.loads((home / "context.json").read_text())["account"])


def make_world(base: Path, *, hub_web: bool = False) -> Iterator[World]:
    """The world; with ``hub_web``, the hub also serves its web app (``--web-port``)."""
    hub_dir = base / "hub"
    world = World(base, base / "alice", base / "bob", base / "media", free_port(), "", "")
    web_args: list[str] = []
    if hub_web:
        world.hub_web_port = free_port()
        web_args = ["--web-port", str(world.hub_web_port), "--ws-port", str(free_port())]
    try:
        world.processes["hub"] = start(
            ["hub", "up", "--dir", str(hub_dir), "--port", str(free_port()), *web_args],
            None,
            base / "hub.log",
            "invite someone",
        )
        for name, home in (("alice", world.alice), ("bob", world.bob)):
            invite = run("hub", "invite", "--dir", str(hub_dir)).strip().splitlines()[-1]
            run("init", "--invite", invite, "--name", name, home=home)
        world.alice_key, world.bob_key = _account(world.alice), _account(world.bob)
        make_media(world.media, seconds=6)
        extra = base / "extra"
        extra.mkdir()
        (extra / "hello.txt").write_text("an extra catalog\n")
        run("catalog", "new", "demo", "Alice's media", str(world.media), home=world.alice)
        run("catalog", "new", "extra", "", str(extra), home=world.alice)
        for catalog in ("demo", "extra"):
            run("catalog", "share", catalog, world.bob_key, home=world.alice)
        world.serve()
        run("catalog", "import", "demo", world.alice_key, home=world.bob)
        world.processes["web"] = start(
            ["web", "--port", str(world.web_port)], world.bob, base / "web.log", "Ctrl-C stops it"
        )
        deadline = time.monotonic() + 15
        while True:  # listening (a request without a session: 401)
            try:
                urllib.request.urlopen(world.url + "/api/me", timeout=2)
            except urllib.error.HTTPError as exc:
                if exc.status == 401:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)
        yield world
    finally:
        world.close()
