"""Benchmark: `natster hub backup` and `hub restore` of a hub people have used for months.

    python -m bench.ops                    # 1,000 accounts, 10,000 shares, 100,000 events
    python -m bench.ops --accounts 100 --shares 1000 --events 10000

The accounts join as people do (an invite each, through the account service: their JWTs
are in the resolver; the hub's signup rate limit is lifted for it, in this process); the
shares, and shares made and ended again up to ``--events``, are published straight into
the event log (as bench.rebuild does). Then the hub is backed up
while it runs, the backup restored into a new directory, and that hub started until its
projections hold every event again; one person's credentials connect to it. Prints JSON.
The baseline, measured in the same run, is a plain copy of the stopped hub's directory
(what a file-level backup would take): its time and size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tarfile
import tempfile
import time
from pathlib import Path

if not __package__:  # run as `python bench/ops.py`: be `bench.ops` all the same
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from natster import _nats, limits
from natster import events as ev
from natster.client import Home, NatsterClient, join
from natster.hub import HubDir, mint_invite
from natster.hub.backup import backup, restore
from natster.services.platform import Platform

from ._platform import clean_up, free_port, wait_applied

JOINING_AT_ONCE = 16


async def _join_all(platform: Platform, base: Path, accounts: int) -> list[Home]:
    homes = [Home(base / "people" / f"user{i}") for i in range(accounts)]
    waiting = asyncio.Semaphore(JOINING_AT_ONCE)

    async def one(i: int) -> None:
        async with waiting:
            invite = (await mint_invite(platform.dir, 3600)).encode()
            await join(invite, home=homes[i], name=f"user{i}")

    await asyncio.gather(*(one(i) for i in range(accounts)))
    return homes


async def _history(platform: Platform, owners: list[str], shares: int, events: int) -> int:
    """``shares`` shares kept, and share-unshare pairs until the log holds ``events``;
    the last sequence number."""
    rng = random.Random(7)
    nc = await _nats.connect(
        _local_url(platform.dir), platform.dir.creds("global"), trust=platform.dir.trust(), name="x"
    )
    js = nc.jetstream()
    last = 0
    pending: list[asyncio.Future[None]] = []

    async def put(kind: str, owner: str, data: ev.CatalogShared) -> None:
        nonlocal last
        event = ev.make_event(kind, owner, data, f"{owner}/{data.catalog}")
        ack = await js.publish(
            event.stream_subject(), event.model_dump_json().encode(), stream=ev.STREAM
        )
        last = max(last, ack.seq)

    async def queue(kind: str, owner: str, data: ev.CatalogShared) -> None:
        pending.append(asyncio.ensure_future(put(kind, owner, data)))
        if len(pending) >= 500:
            await asyncio.gather(*pending)
            pending.clear()

    kept: set[tuple[str, str, str]] = set()
    while len(kept) < shares:
        owner, target = rng.sample(owners, 2)
        catalog = f"c{rng.randrange(20)}"
        if (owner, catalog, target) not in kept:
            kept.add((owner, catalog, target))
            await queue(
                ev.CATALOG_SHARED,
                owner,
                ev.CatalogShared(owner=owner, catalog=catalog, target=target),
            )
    await asyncio.gather(*pending)
    pending.clear()
    info = await js.stream_info(ev.STREAM)
    churn = max(0, events - int(info.state.messages)) // 2
    for i in range(churn):  # shared for a while, then no more: history, not state
        owner, target = rng.sample(owners, 2)
        share = ev.CatalogShared(owner=owner, catalog=f"old{i % 50}", target=target)
        await queue(ev.CATALOG_SHARED, owner, share)
        unshare = ev.CatalogUnshared(owner=owner, catalog=share.catalog, target=target)
        await queue(ev.CATALOG_UNSHARED, owner, unshare)
    await asyncio.gather(*pending)
    await nc.close()
    return last


def _local_url(hub: HubDir) -> str:
    state = hub.run_state()
    if state is None:
        raise RuntimeError(f"the hub in {hub.path} is not running")
    return state.local_url


async def main(accounts: int, shares: int, events: int) -> dict[str, object]:
    # a hub lets 120 people a minute sign up: the months of joining, in a minute here
    limits.SIGNUP_TRIES = limits.Rate(per_minute=60 * accounts, burst=accounts)
    base = Path(tempfile.mkdtemp(prefix="natster-bench-ops-"))
    try:
        return await _measured(base, accounts, shares, events)
    finally:
        clean_up(base)


async def _measured(base: Path, accounts: int, shares: int, events: int) -> dict[str, object]:
    platform = Platform(base / "hub", port=free_port())
    await platform.start()
    try:
        began = time.perf_counter()
        homes = await _join_all(platform, base, accounts)
        joined_s = time.perf_counter() - began
        owners = [home.load().account for home in homes]
        last = await _history(platform, owners, shares, events)
        assert platform.global_service is not None
        await wait_applied(platform.global_service, last)
        active = len(platform.global_service.mirror.shares)

        began = time.perf_counter()
        made = await backup(platform.dir, base / "hub.backup")
        backup_s = time.perf_counter() - began
    finally:
        await platform.stop()

    began = time.perf_counter()  # the baseline: a file-level copy of the stopped hub
    with tarfile.open(base / "hub-copy.tar", "w") as tar:
        tar.add(base / "hub", arcname="hub")
    copy_s = time.perf_counter() - began
    copy_bytes = (base / "hub-copy.tar").stat().st_size

    began = time.perf_counter()
    restored = restore(made.path, base / "restored")
    again = Platform(restored.path)  # where it was: the port people know
    await again.start()
    try:
        assert again.global_service is not None
        await wait_applied(again.global_service, last)
        restore_s = time.perf_counter() - began
        restored_shares = len(again.global_service.mirror.shares)
        async with await NatsterClient.connect(homes[0]) as someone:  # their old creds
            me = await someone.account_info()
    finally:
        await again.stop()
    return {
        "accounts": accounts,
        "active_shares": active,
        "events": last,
        "join_s": round(joined_s, 1),
        "backup_s": round(backup_s, 2),
        "backup_bytes": made.size,
        "backup_streams": made.streams,
        "backup_messages": made.messages,
        "restore_until_every_event_applied_s": round(restore_s, 2),
        "restored_shares_equal": restored_shares == active,
        "old_credentials_connect": me.name == "user0",
        "baseline_copy_of_hub_dir_s": round(copy_s, 2),
        "baseline_copy_bytes": copy_bytes,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--shares", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.accounts, args.shares, args.events)), indent=2))
