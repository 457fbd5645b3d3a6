"""Benchmark: global service latency with 10,000 accounts and 100,000 shares loaded.

    python -m bench.global_latency                     # the issue's scale
    python -m bench.global_latency --accounts 1000 --shares 10000

Prints JSON: p50/p99 in ms of my.shares, whoami and stats from a real user, and the
baseline measured in the same run, a raw NATS request/reply to an echo responder on the
same server. Goal: p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

if not __package__:  # run as `python bench/global_latency.py`: be `bench.global_latency`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from natster import _nats
from natster import events as ev
from natster.client import Home, NatsterClient, join
from natster.hub import mint_invite

from ._platform import echo_baseline, load, percentiles, start, wait_applied


async def timed(call: Callable[[], Awaitable[Any]], count: int) -> dict[str, float]:
    samples = []
    for _ in range(count):
        began = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - began) * 1000)
    return percentiles(samples)


async def main(accounts: int, shares: int, count: int) -> dict[str, object]:
    base = Path(tempfile.mkdtemp(prefix="natster-bench-global-"))
    platform = await start(base / "hub")
    try:
        loaded = await load(platform, accounts, shares)
        home = Home(base / "user")
        await join((await mint_invite(platform.dir, 600)).encode(), home=home, name="bench")
        service = platform.global_service
        assert service is not None
        async with await NatsterClient.connect(home) as me:
            others = list(service.mirror.accounts)[:25]
            state = platform.dir.run_state()
            assert state is not None
            nc = await _nats.connect(
                state.local_url, platform.dir.creds("global"), trust=platform.dir.trust(), name="b"
            )
            for owner in others:  # this user is shared some catalogs, like anyone
                share = ev.CatalogShared(owner=owner, catalog="films", target=me.context.account)
                event = ev.make_event(ev.CATALOG_SHARED, owner, share, f"{owner}/films")
                ack = await nc.jetstream().publish(
                    event.stream_subject(), event.model_dump_json().encode()
                )
            await wait_applied(service, ack.seq)
            await nc.close()

            baseline = await echo_baseline(me.connection, count)
            rows = len(await me.my_shares())
            result = {
                "loaded": loaded,
                "accounts_in_projection": len(service.mirror.accounts),
                "active_shares": len(service.mirror.shares),
                "my_shares_rows": rows,
                "baseline_raw_request": baseline,
                "my.shares": await timed(me.my_shares, count),
                "whoami": await timed(me.global_whoami, count),
                "stats": await timed(me.stats, count),
            }
        worst = max(result[k]["p99_ms"] for k in ("my.shares", "whoami", "stats"))  # type: ignore[index]
        result["goal_p99_lt_50ms"] = worst < 50
        return result
    finally:
        await platform.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--shares", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.accounts, args.shares, args.requests)), indent=2))
