"""Direct transfers across real networks: network namespaces and veth pairs made by the
test (Linux, as root). alice and bob share a LAN, the hub is on a network of its own
behind a router, and carol is on a third network the router will not connect to
alice's LAN (its packets there are dropped, as a NAT or firewall would). Where
namespaces cannot be made, the loopback tests in tests/test_direct.py stand in."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
SIZE = 256 * 2**20
HUB_IP, ALICE_IP, BOB_IP, CAROL_IP = "10.77.1.1", "10.77.2.1", "10.77.2.2", "10.77.3.1"
HUB_PORT, MONITOR_PORT = 4222, 8222  # each namespace has its own ports


def _ip(*args: str, ns: str | None = None) -> None:
    where = ["ip", "netns", "exec", ns] if ns else []
    subprocess.run([*where, "ip", *args], check=True, capture_output=True, timeout=10)


def _namespaces_work() -> bool:
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    probe = f"ntp{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, check=False)
    if made.returncode != 0:
        return False
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return True


@dataclass(frozen=True)
class Nets:
    hub: str
    alice: str
    bob: str
    carol: str


@pytest.fixture
def nets() -> Iterator[Nets]:
    if not _namespaces_work():
        pytest.skip("no network namespaces here (needs root on Linux): see test_direct.py")
    tag = f"n{os.getpid() % 100000}"
    router = f"{tag}r"
    made = Nets(f"{tag}h", f"{tag}a", f"{tag}b", f"{tag}c")
    names = [router, made.hub, made.alice, made.bob, made.carol]
    try:
        for name in names:
            subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
            _ip("link", "set", "lo", "up", ns=name)
        _ip("link", "add", "name", "lan0", "type", "bridge", ns=router)  # alice and bob's LAN
        _ip("addr", "add", "10.77.2.254/24", "dev", "lan0", ns=router)
        _ip("link", "set", "lan0", "up", ns=router)
        for ns, address, net in (
            (made.hub, f"{HUB_IP}/24", "1"),
            (made.alice, f"{ALICE_IP}/24", "2"),
            (made.bob, f"{BOB_IP}/24", "2"),
            (made.carol, f"{CAROL_IP}/24", "3"),
        ):
            inside, outside = f"{ns}i", f"{ns}o"
            _ip("link", "add", inside, "type", "veth", "peer", "name", outside)
            _ip("link", "set", inside, "netns", ns)
            _ip("link", "set", outside, "netns", router)
            _ip("addr", "add", address, "dev", inside, ns=ns)
            _ip("link", "set", inside, "up", ns=ns)
            if net == "2":
                _ip("link", "set", outside, "master", "lan0", ns=router)
            else:
                _ip("addr", "add", f"10.77.{net}.254/24", "dev", outside, ns=router)
            _ip("link", "set", outside, "up", ns=router)
            _ip("route", "add", "default", "via", f"10.77.{net}.254", ns=ns)
        subprocess.run(
            ["ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
            check=True,
            capture_output=True,
        )
        # carol reaches the hub, never alice's LAN: dropped without a word
        _ip("rule", "add", "from", "10.77.3.0/24", "to", "10.77.2.0/24", "blackhole", ns=router)
        yield made
    finally:
        for name in names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def _in(ns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


def _env(home: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATSTER_HOME")}
    if home is not None:
        env["NATSTER_HOME"] = str(home)
    return env


def _natster(ns: str, *args: str, home: Path | None = None) -> str:
    done = subprocess.run(
        _in(ns, sys.executable, "-m", "natster", *args),
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"natster {' '.join(args)}: {done.stderr}"
    return done.stdout


def _receive(ns: str, home: Path, path: str, out: Path) -> dict[str, object]:
    done = subprocess.run(
        _in(ns, sys.executable, str(HERE / "netns_receive.py"), "films", path, str(out)),
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def _hub_sent(nets: Nets) -> int:
    """What the hub's nats-server has sent, from its own monitoring (loopback, its net)."""
    read = (
        "import json, urllib.request; print(json.load(urllib.request.urlopen("
        f"'http://127.0.0.1:{MONITOR_PORT}/varz', timeout=5))['out_bytes'])"
    )
    done = subprocess.run(
        _in(nets.hub, sys.executable, "-c", read), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


@pytest.fixture
def hub_on_its_net(nets: Nets, tmp_path: Path) -> Iterator[Path]:
    hub_dir = tmp_path / "hub"
    log = (tmp_path / "hub.err").open("w")
    up = ["hub", "up", "--dir", str(hub_dir), "--host", HUB_IP, "--port", str(HUB_PORT)]
    hub = subprocess.Popen(
        _in(nets.hub, sys.executable, "-m", "natster", *up, "--monitor-port", str(MONITOR_PORT)),
        env=_env(None),
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert hub.stdout is not None
    for line in hub.stdout:
        if line.startswith("invite someone"):
            break
    else:
        pytest.fail(f"the hub did not start: {(tmp_path / 'hub.err').read_text()}")
    try:
        yield hub_dir
    finally:
        hub.kill()
        hub.wait()


def test_on_one_lan_bytes_go_direct_and_from_another_network_through_the_hub(
    nets: Nets, hub_on_its_net: Path, tmp_path: Path
) -> None:
    homes = {name: tmp_path / name for name in ("alice", "bob", "carol")}
    for name, ns in (("alice", nets.alice), ("bob", nets.bob), ("carol", nets.carol)):
        invite = _natster(nets.hub, "hub", "invite", "--dir", str(hub_on_its_net))
        _natster(ns, "init", "--invite", invite.splitlines()[-1], "--name", name, home=homes[name])
    media = tmp_path / "media"
    media.mkdir()
    want = {}
    for name, size in (("film.mkv", SIZE), ("short.mkv", 4 * 2**20)):
        digest = hashlib.sha256()
        with (media / name).open("wb") as out:
            for _ in range(size // 2**20):
                piece = os.urandom(2**20)
                digest.update(piece)
                out.write(piece)
        want[name] = digest.hexdigest()
    alice = homes["alice"]
    _natster(nets.alice, "catalog", "new", "films", "mine", str(media), home=alice)
    for friend in ("bob", "carol"):
        _natster(nets.alice, "catalog", "share", "films", friend, home=alice)
        _natster(getattr(nets, friend), "catalog", "import", "films", "alice", home=homes[friend])
    server = subprocess.Popen(
        _in(nets.alice, sys.executable, "-m", "natster", "catalog", "serve", "films"),
        env=_env(alice),
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "serve.err").open("w"),
        text=True,
    )
    try:
        assert server.stdout is not None
        assert "serving films" in server.stdout.readline()
        said = server.stdout.readline()
        assert said.startswith(f"direct transfers from {ALICE_IP}"), said  # its LAN address

        before = _hub_sent(nets)
        bob = _receive(nets.bob, homes["bob"], "film.mkv", tmp_path / "bob.mkv")
        relayed = _hub_sent(nets) - before
        assert (bob["first"], bob["route"]) == ("direct", "direct")
        assert bob["sha256"] == want["film.mkv"]
        assert relayed < SIZE / 100, f"the hub sent {relayed} bytes of {SIZE}"

        carol = _receive(nets.carol, homes["carol"], "short.mkv", tmp_path / "carol.mkv")
        assert (carol["first"], carol["route"]) == ("via hub", "via hub")
        assert carol["sha256"] == want["short.mkv"]
        assert isinstance(carol["settled_s"], float)
        assert carol["settled_s"] < 1.0, carol  # opened, asked, tried, given up
    finally:
        server.terminate()
        server.wait(timeout=15)
    print(json.dumps({"bob": bob, "carol": carol, "hub_relayed": relayed}))
