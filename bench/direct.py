"""Benchmark: the same download direct from the owner's machine and through the hub, in
one run, on this machine's LAN address.

    python -m bench.direct                 # 256 MiB
    python -m bench.direct --size 64MiB
    python -m bench.direct --hub-line 100 --size 64MiB  # bob's line to the hub: 100 Mbit/s

alice runs `natster catalog serve big --direct PORT` (a process of its own); bob
downloads big.img twice in this process: through the hub (the baseline: the direct path
not asked for), then direct. Prints JSON: MB/s of each, their ratio (goal >= 1.3 on
loopback), the bytes the hub's nats-server sent meanwhile (goal: ~0 when direct), and
the CPU seconds each process spent on each (from /proc: where the time goes). With
``--hub-line MBIT`` bob reaches the hub through an emulated home line (bench/_links.py:
MBIT down, a fifth of it up, 10 ms each way), as when the hub is elsewhere, while
alice's direct endpoint stays on the LAN address.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as `python bench/direct.py`: be `bench.direct` all the same
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from natster import _nats
from natster.client import Home, NatsterClient, join, remote
from natster.client.download import download
from natster.client.transfer import Transfer
from natster.hub import mint_invite
from natster.services.platform import Platform

from . import _proc
from ._links import Link
from ._platform import big_sparse_catalog, clean_up, free_port, start
from .transfer import parse_size


async def _hub_sent(platform: Platform) -> int:
    state = platform.dir.run_state()
    assert state is not None
    nc = await _nats.connect(
        state.local_url, platform.dir.creds("sys"), trust=platform.dir.trust(), name="bench"
    )
    try:
        reply = await nc.request("$SYS.REQ.SERVER.PING.VARZ", b"", timeout=5)
    finally:
        await nc.close()
    return int(json.loads(reply.data)["data"]["out_bytes"])


def _roles(owner: int) -> dict[str, list[int]]:
    """Who does the work, by process: the hub's nats-server, the owner's catalog server,
    the owner's direct endpoint (its nats-server), and this process (bob, and the hub's
    services, idle meanwhile)."""
    return {
        "hub_nats_server": _proc.children(os.getpid(), "nats-server"),
        "owner": [owner],
        "direct_nats_server": _proc.children(owner, "nats-server"),
        "receiver": [os.getpid()],
    }


def _cpu(roles: dict[str, list[int]]) -> dict[str, float]:
    return {role: sum(_proc.cpu_seconds(pid) for pid in pids) for role, pids in roles.items()}


async def _once(
    platform: Platform,
    bob: NatsterClient,
    ref: remote.CatalogRef,
    out: Path,
    direct: bool,
    owner: int,
) -> dict[str, object]:
    out.unlink(missing_ok=True)
    before = await _hub_sent(platform)
    roles = _roles(owner)
    cpu_before, machine_before = _cpu(roles), _proc.machine_cpu_seconds()
    began = time.perf_counter()
    transfer = await Transfer(bob, ref, path="big.img", direct=direct).open()
    size = await download(bob, ref, transfer, out)
    seconds = time.perf_counter() - began
    machine = _proc.machine_cpu_seconds() - machine_before
    roles = _roles(owner)  # the direct endpoint started meanwhile, perhaps
    used = {role: seconds - cpu_before.get(role, 0.0) for role, seconds in _cpu(roles).items()}
    return {
        "route": transfer.route,
        "mb_per_s": round(size / seconds / 1e6, 1),
        "seconds": round(seconds, 2),
        "hub_sent_bytes": await _hub_sent(platform) - before,
        "cpu_s": {role: round(value, 2) for role, value in used.items()},
        "machine_cpu_s": round(machine, 2),
    }


async def _bob(home: Home, line: Link | None) -> NatsterClient:
    """bob, connected to the hub straight or through ``line``."""
    if line is None:
        return await NatsterClient.connect(home)
    context = home.load().model_copy(update={"url": line.url})
    nc = await _nats.connect(line.url, home.creds(), name="bob", trust=home.trust(context))
    return NatsterClient(home, context, nc)


async def main(size: int, hub_line: float | None = None) -> dict[str, object]:
    base = Path(tempfile.mkdtemp(prefix="natster-bench-direct-"))
    platform = await start(base / "hub")
    server: asyncio.subprocess.Process | None = None
    line: Link | None = None
    try:
        if hub_line is not None:
            state = platform.dir.run_state()
            assert state is not None
            hub_port = int(state.local_url.rsplit(":", 1)[1])
            line = Link(
                ("127.0.0.1", hub_port), up_mbit=hub_line / 5, down_mbit=hub_line, delay=0.01
            )
            await line.start()
        homes = {name: Home(base / name) for name in ("alice", "bob")}
        for name, home in homes.items():
            await join((await mint_invite(platform.dir, 600)).encode(), home=home, name=name)
        big_sparse_catalog(homes["alice"], base / "media", size)
        async with (
            await NatsterClient.connect(homes["alice"]) as alice,
            await _bob(homes["bob"], line) as bob,
        ):
            await remote.share(alice, "big", bob.account)
            await remote.import_catalog(bob, "big", alice.account)
            serve = ["catalog", "serve", "big", "--direct", str(free_port())]
            server = await asyncio.create_subprocess_exec(  # (the hub answers meanwhile)
                sys.executable,
                "-m",
                "natster",
                *serve,
                env={**os.environ, "NATSTER_HOME": str(homes["alice"].path)},
                stdout=asyncio.subprocess.PIPE,
                stderr=(base / "serve.err").open("w"),
            )
            assert server.stdout is not None
            said = (await asyncio.wait_for(server.stdout.readline(), 60)).decode()
            where = (await asyncio.wait_for(server.stdout.readline(), 60)).decode().strip()
            if not where.startswith("direct transfers at"):
                raise RuntimeError(f"catalog serve said: {said!r} {where!r}")
            ref = await remote.resolve(bob, "big")
            owner = server.pid
            via_hub = await _once(platform, bob, ref, base / "got", direct=False, owner=owner)
            direct = await _once(platform, bob, ref, base / "got", direct=True, owner=owner)
        return {
            "bytes": size,
            "hub_line_mbit": hub_line,
            "endpoint": where,
            "via_hub": via_hub,
            "direct": direct,
            "direct_over_via_hub": round(
                float(str(direct["mb_per_s"])) / float(str(via_hub["mb_per_s"])), 2
            ),
        }
    finally:
        if server is not None:
            server.terminate()
            await asyncio.wait_for(server.wait(), 15)
        if line is not None:
            await line.close()
        await platform.stop()
        clean_up(base)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=parse_size, default=256 * 1024**2)
    parser.add_argument("--hub-line", type=float, metavar="MBIT", default=None)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.size, args.hub_line)), indent=2))
