"""The hub goes away and comes back: commands fail in seconds, servers ride it out."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from natster._net import is_loopback, lan_address

from . import warm_cli
from .conftest import NATSTER, eventually_sync, free_port, natster


class HubProcess:
    def __init__(self, hub_dir: Path, log: Path) -> None:
        self.dir, self.log, self.port = hub_dir, log, free_port()
        self.proc: subprocess.Popen[str] | None = None

    def up(self) -> None:
        self.proc = warm_cli.Popen(
            [*NATSTER, "hub", "up", "--dir", str(self.dir), "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=self.log.open("a"),
            text=True,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("invite someone"):
                return
        pytest.fail(f"the hub did not start: {self.log.read_text()}")

    def down(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=20)


def wait_for(what: str, check: Callable[[], bool], seconds: float) -> None:
    eventually_sync(check, seconds, what)


def _sparse_file(alice: Path, name: str, size: int) -> None:
    """``name`` in alice's films: ``size`` bytes, sparse (the hub's outage is the
    subject, not the disk), and in the catalog."""
    media = Path(json.loads(natster("catalog", "local", "--json", home=alice).stdout)[0]["root"])
    with (media / name).open("wb") as handle:
        handle.truncate(size)
    assert natster("catalog", "rescan", "films", home=alice).returncode == 0


def _download(bob: Path, out: Path, *options: str) -> subprocess.Popen[str]:
    """``catalog download films big.img OUT OPTIONS`` as bob, in the background."""
    return warm_cli.Popen(
        [*NATSTER, "catalog", "download", "films", "big.img", str(out), *options],
        env={**os.environ, "NATSTER_HOME": str(bob)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _part_file(folder: Path) -> Path | None:
    return next(iter(folder.glob("big.img*.part")), None)


def _growing(folder: Path) -> bool:
    """A download into ``folder`` has written something."""
    found = _part_file(folder)
    return found is not None and found.stat().st_size > 0


def _back(serve_log: Path) -> bool:
    """Every connection of the catalog server that lost the hub has it again."""
    said = serve_log.read_text()
    return said.count("reconnected to the hub") >= said.count("lost the hub")


@pytest.fixture
def outage(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[HubProcess, Path, Path, Path]]:
    """A hub, alice serving "films" shared with and imported by bob (every byte through
    the hub, unless a test passes the options of `catalog serve` as the parameter)."""
    options: tuple[str, ...] = getattr(request, "param", ("--no-direct",))
    hub = HubProcess(tmp_path / "hub", tmp_path / "hub.log")
    hub.up()
    homes = {}
    for name in ("alice", "bob"):
        invite = natster("hub", "invite", "--dir", str(hub.dir)).stdout.strip().splitlines()[-1]
        homes[name] = tmp_path / name
        joined = natster("init", "--name", name, home=homes[name], input=invite)
        assert joined.returncode == 0, joined.stderr
    media = tmp_path / "media"
    media.mkdir()
    (media / "a.txt").write_text("alpha")
    alice, bob = homes["alice"], homes["bob"]
    assert natster("catalog", "new", "films", "f", str(media), home=alice).returncode == 0
    bob_key = json.loads(natster("whoami", "--json", home=bob).stdout)["account"]
    alice_key = json.loads(natster("whoami", "--json", home=alice).stdout)["account"]
    assert natster("catalog", "share", "films", bob_key, home=alice).returncode == 0
    serve_log = tmp_path / "serve.log"
    server = warm_cli.Popen(  # every byte through the hub: its outage is the subject
        [*NATSTER, "catalog", "serve", "films", *options],
        env={**os.environ, "NATSTER_HOME": str(alice)},
        stdout=subprocess.PIPE,
        stderr=serve_log.open("w"),
        text=True,
    )
    try:
        assert server.stdout is not None
        assert "serving" in server.stdout.readline()
        imported = natster("catalog", "import", "films", alice_key, home=bob)
        assert imported.returncode == 0, imported.stderr
        yield hub, alice, bob, serve_log
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=20)
        hub.down()


COMMANDS = [
    ("catalog", "ls"),
    ("stats",),
    ("catalog", "inbox"),
    ("catalog", "contents", "films"),
    ("catalog", "download", "films", "a.txt"),
    ("catalog", "share", "films", "A" * 56),
]


@pytest.mark.slow  # mostly waiting on a hub that is away
def test_an_unreachable_hub_is_one_line_within_seconds_and_servers_ride_it_out(
    outage: tuple[HubProcess, Path, Path, Path], tmp_path: Path
) -> None:
    hub, _alice, bob, serve_log = outage
    hub.down()
    url = f"tls://127.0.0.1:{hub.port}"
    for command in COMMANDS:
        began = time.monotonic()
        result = natster(*command, home=bob, timeout=30)
        assert time.monotonic() - began < 10, command
        assert result.returncode == 1, (command, result)
        lines = result.stderr.strip().splitlines()
        assert lines == [f"error: cannot reach the hub at {url}: is it running?"], command
    whoami = natster("whoami", home=bob)  # local facts still show, and what the hub said
    assert whoami.returncode == 0
    assert "cannot reach the hub" in whoami.stdout

    wait_for("serve says it is reconnecting", lambda: "reconnecting" in serve_log.read_text(), 10)
    hub.up()
    wait_for("serve says it is back", lambda: "reconnected" in serve_log.read_text(), 20)

    def browsable() -> bool:
        result = natster("catalog", "contents", "films", "--json", home=bob)
        assert "not shared" not in result.stderr, result.stderr  # never a false unshare
        return result.returncode == 0 and "a.txt" in result.stdout

    wait_for("bob browses films again", browsable, 15)

    def online() -> bool:
        rows = json.loads(natster("catalog", "ls", "--json", home=bob).stdout or "[]")
        return any(r["catalog"] == "films" and r["online"] for r in rows)

    wait_for("films is online again", online, 15)


def test_hub_up_on_a_taken_port_says_so_and_touches_nothing(tmp_path: Path) -> None:
    first = HubProcess(tmp_path / "first", tmp_path / "first.log")
    first.up()
    try:
        began = time.monotonic()
        second = natster(
            "hub", "up", "--dir", str(tmp_path / "second"), "--port", str(first.port), timeout=30
        )
        assert time.monotonic() - began < 10
        assert second.returncode == 1
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert f"port {first.port}" in lines[0]
        assert "already in use" in lines[0]
        assert first.proc is not None
        assert first.proc.poll() is None  # the other hub is untouched
        assert natster("hub", "status", "--dir", str(first.dir)).returncode == 0
    finally:
        first.down()


def test_hub_up_names_every_port_taken_with_its_option(tmp_path: Path) -> None:
    held = [socket.create_server(("127.0.0.1", 0)) for _ in range(2)]
    try:
        nats_port, web_port = (s.getsockname()[1] for s in held)
        result = natster(
            "hub", "up", "--dir", str(tmp_path / "hub"),
            "--port", str(nats_port), "--web-port", str(web_port),
            timeout=30,
        )  # fmt: skip
    finally:
        for s in held:
            s.close()
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"ports {nats_port} (--port), {web_port} (--web-port)" in lines[0]
    assert "are already in use" in lines[0]


@pytest.mark.slow  # 1 GiB and a 10 s outage
def test_a_download_waits_out_a_hub_outage_up_to_its_bound(
    outage: tuple[HubProcess, Path, Path, Path], tmp_path: Path
) -> None:
    hub, alice, bob, serve_log = outage
    size = 1024**3 + 777
    _sparse_file(alice, "big.img", size)
    out = tmp_path / "big.img"

    # past its bound (--wait 2): it stops, says how to go on, and keeps what it has
    impatient = _download(bob, out, "--wait", "2")
    wait_for("the download begins", lambda: _growing(tmp_path), 60)
    hub.down()
    began = time.monotonic()
    _, stderr = impatient.communicate(timeout=60)
    assert impatient.returncode == 1, stderr
    assert time.monotonic() - began < 15
    assert "hub unreachable, waiting..." in stderr
    assert stderr.strip().splitlines()[-1] == (
        "error: the hub stayed unreachable for 2 s: run it again to resume"
    )
    part = _part_file(tmp_path)
    assert part is not None
    kept = part.stat().st_size
    assert 0 < kept < size
    assert not out.exists()

    # within its bound (60 s by default): a 10 s outage is waited out, by itself
    hub.up()
    wait_for("alice's server is back", lambda: _back(serve_log), 20)  # else: films is offline
    patient = _download(bob, out)
    wait_for("it goes on", lambda: part.stat().st_size > kept, 60)
    hub.down()
    assert patient.poll() is None  # the hub went away mid-download
    time.sleep(10)
    hub.up()
    _, stderr = patient.communicate(timeout=180)
    assert patient.returncode == 0, stderr
    assert "resuming big.img" in stderr
    assert "hub unreachable, waiting..." in stderr
    assert out.stat().st_size == size  # renamed only after the catalog's sha256 matched
    assert not part.exists()


@pytest.mark.slow  # 512 MiB
@pytest.mark.skipif(is_loopback(lan_address()), reason="no network address: nothing is direct")
@pytest.mark.parametrize("outage", [()], indirect=True)  # served as by default: direct
def test_a_direct_download_needs_no_hub_once_it_is_direct(
    outage: tuple[HubProcess, Path, Path, Path], tmp_path: Path
) -> None:
    """The hub opens a transfer and hands out its ticket; the bytes then come straight
    from alice's machine, and go on coming while the hub is away."""
    hub, alice, bob, _ = outage
    size = 512 * 1024**2 + 555
    _sparse_file(alice, "big.img", size)
    out = tmp_path / "big.img"
    download = _download(bob, out, "--json")
    wait_for("the download begins", lambda: _growing(tmp_path), 60)
    hub.down()
    assert download.poll() is None  # the hub went away mid-download
    said, stderr = download.communicate(timeout=120)
    assert download.returncode == 0, stderr
    assert json.loads(said)["route"] == "direct"
    assert "waiting" not in stderr  # (that the hub is away, it may say)
    assert out.stat().st_size == size  # renamed only after the catalog's sha256 matched


@pytest.mark.slow  # mostly waiting on a hub restart
def test_a_web_stream_rides_out_a_hub_restart(
    outage: tuple[HubProcess, Path, Path, Path], tmp_path: Path
) -> None:
    hub, alice, bob, _ = outage
    size = 64 * 1024**2 + 333
    _sparse_file(alice, "film.mp4", size)
    alice_key = json.loads(natster("whoami", "--json", home=alice).stdout)["account"]
    rows = json.loads(natster("catalog", "contents", "films", "--json", home=bob).stdout)
    digest = next(row["hash"] for row in rows if row["path"] == "film.mp4")
    port, web_log = free_port(), tmp_path / "web.log"
    web = warm_cli.Popen(
        [*NATSTER, "web", "--port", str(port)],
        env={**os.environ, "NATSTER_HOME": str(bob)},
        stdout=web_log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for("the web UI listens", lambda: "Ctrl-C stops it" in web_log.read_text(), 30)
        link = natster("login", "--no-browser", home=bob).stdout.strip().splitlines()[-1]
        with httpx.Client(timeout=60) as browser:
            assert browser.get(link).status_code == 303
            url = f"http://127.0.0.1:{port}/api/files/{alice_key}/films/{digest}"
            received = hashlib.sha256()
            count = 0
            with browser.stream("GET", url) as response:
                assert response.status_code == 200
                chunks = response.iter_bytes()
                while count < 4 * 1024**2:  # the player has begun
                    piece = next(chunks)
                    received.update(piece)
                    count += len(piece)
                hub.down()
                wait_for(
                    "the web says it is reconnecting",
                    lambda: "reconnecting" in web_log.read_text(),
                    10,
                )
                hub.up()
                for piece in chunks:
                    received.update(piece)
                    count += len(piece)
        assert count == size
        assert received.hexdigest() == digest
        assert "reconnected" in web_log.read_text()
    finally:
        web.send_signal(signal.SIGINT)
        web.wait(timeout=20)
