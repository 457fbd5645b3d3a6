"""Benchmark: a hub of three nodes (JetStream R3, routes over TLS) against one, in one run.

    python -m bench.cluster                                # 20,000 events, 256 MiB, 100,000
    python -m bench.cluster --events 5000 --size 64MiB --rebuild 20000

Prints JSON:
- event writes per second into the event log, published as the global service does
  (acknowledged, deduplicated by id, 500 in flight), on one node (R1, the baseline) and
  on three (R3); goal: R3 >= 0.5 of R1;
- one download with alice's catalog server and bob on the same node, and with bob on
  another node (each chunk crosses a route); goal: the hop costs <= 25% of throughput;
- a rebuild of the projections from ``--rebuild`` events on R3; goal < 60 s for 100,000.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if not __package__:  # run as `python bench/cluster.py`: be `bench.cluster` all the same
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from natster import _nats
from natster.client import Home, NatsterClient, join, remote
from natster.hub import mint_invite
from natster.services.global_service.rebuild import rebuild
from natster.services.platform import Platform

from ._platform import big_sparse_catalog, clean_up, load, local_cluster, start
from .transfer import DOWNLOAD, parse_size


async def writes(platform: Platform, events: int, seed: int) -> float:
    """Events per second published into ``platform``'s event log."""
    accounts = max(2, events // 10)
    loaded = await load(platform, accounts, events - accounts, seed=seed)
    return round(loaded["events"] / loaded["publish_s"], 1)


async def downloads(base: Path, nodes: list[Platform], size: int) -> dict[str, float]:
    """MB/s of one download with both ends on node 1, then with bob on node 2."""
    urls = [n.dir.require_running().local_url for n in nodes]
    homes = {name: Home(base / name) for name in ("alice", "near", "far")}
    where = {"alice": urls[0], "near": urls[0], "far": urls[1]}
    for name, home in homes.items():
        invite = (await mint_invite(nodes[0].dir, 600)).encode()
        await join(invite, home=home, name=name, url=where[name])
    big_sparse_catalog(homes["alice"], base / "media", size)
    env = {**os.environ, "NATSTER_HOME": str(homes["alice"].path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "natster", "catalog", "serve", "big"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=(base / "serve.err").open("w"),
        text=True,
    )
    try:
        assert server.stdout is not None
        if "serving" not in await asyncio.to_thread(server.stdout.readline):
            raise SystemExit((base / "serve.err").read_text())
        async with await NatsterClient.connect(homes["alice"]) as alice:
            for name in ("near", "far"):
                async with await NatsterClient.connect(homes[name]) as bob:
                    await remote.share(alice, "big", bob.account)
                    await remote.import_catalog(bob, "big", alice.account)
        result = {}
        for name in ("near", "far"):
            done = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-c", DOWNLOAD, str(homes[name].path), str(base / f"{name}.img")],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise SystemExit(done.stderr)
            ours = json.loads(next(x for x in reversed(done.stdout.splitlines()) if x[:1] == "{"))
            result[name] = round(ours["bytes"] / ours["seconds"] / 1e6, 1)
            (base / f"{name}.img").unlink()
        return result
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


async def main(events: int, size: int, replay: int) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="natster-bench-cluster-"))
    try:
        one = await start(base / "one")
        try:
            r1 = await writes(one, events, seed=1)
        finally:
            await one.stop()
        async with local_cluster(base / "three", 3) as nodes:
            mb_s = await downloads(base, nodes, size)
            r3 = await writes(nodes[0], events, seed=2)
            if replay > events:
                await writes(nodes[0], replay - events, seed=3)
            state = nodes[0].dir.require_running()
            nc = await _nats.connect(
                state.local_url,
                nodes[0].dir.creds("global"),
                name="bench",
                trust=nodes[0].dir.trust(),
            )
            try:
                began = time.perf_counter()
                facts = await rebuild(nc)
                rebuild_s = time.perf_counter() - began
            finally:
                await nc.close()
        hop = 1 - mb_s["far"] / mb_s["near"]
        return {
            "events_written": events,
            "writes_per_s": {"r1_one_node": r1, "r3_three_nodes": r3},
            "r3_vs_r1": round(r3 / r1, 3),
            "goal_r3_vs_r1_ge_0.5": r3 / r1 >= 0.5,
            "download_size_bytes": size,
            "download_mb_s": {"same_node": mb_s["near"], "across_a_route": mb_s["far"]},
            "route_hop_cost": round(hop, 3),
            "goal_route_hop_cost_le_0.25": hop <= 0.25,
            "rebuild_events": int(facts["events"]),
            "rebuild_r3_s": round(rebuild_s, 2),
            "goal_rebuild_lt_60s_per_100k": rebuild_s * 100_000 / max(1, facts["events"]) < 60,
        }
    finally:
        clean_up(base)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events written per hub")
    parser.add_argument("--size", default="256MiB", help="the download's size")
    parser.add_argument("--rebuild", type=int, default=100_000, help="events replayed on R3")
    args = parser.parse_args()
    result = asyncio.run(main(args.events, parse_size(args.size), args.rebuild))
    print(json.dumps(result, indent=2))
