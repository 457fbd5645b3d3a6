"""Benchmark: rebuilding the global service's projections by replaying the event log.

    python -m bench.rebuild                  # 100,000 events (10,000 accounts, 90,000 shares)
    python -m bench.rebuild --events 20000

Prints JSON. The baseline, measured in the same run, is reading the same events from the
stream through a pull consumer without applying them: what replay costs before any
projection work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as `python bench/rebuild.py`: be `bench.rebuild` all the same
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig

from natster import _nats
from natster import events as ev
from natster.services.global_service.rebuild import rebuild

from ._platform import load, start


async def raw_read(url: str, creds: object, trust: object, expected: int) -> float:
    nc = await _nats.connect(url, creds, name="bench-raw", trust=trust)  # type: ignore[arg-type]
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        f"{ev.SUBJECT_PREFIX}.>", stream=ev.STREAM, config=ConsumerConfig(ack_policy=AckPolicy.NONE)
    )
    began = time.perf_counter()
    seen = 0
    while seen < expected:
        try:
            seen += len(await sub.fetch(256, timeout=1))
        except nats.errors.TimeoutError:
            break
    elapsed = time.perf_counter() - began
    await nc.close()
    return seen / elapsed


async def main(events: int) -> dict[str, object]:
    base = Path(tempfile.mkdtemp(prefix="natster-bench-rebuild-"))
    platform = await start(base / "hub")
    try:
        accounts = max(2, events // 10)
        loaded = await load(platform, accounts, events - accounts)
        state = platform.dir.run_state()
        assert state is not None
        creds, trust = platform.dir.creds("global"), platform.dir.trust()
        baseline = await raw_read(state.local_url, creds, trust, events)
        nc = await _nats.connect(
            state.local_url, platform.dir.creds("global"), trust=platform.dir.trust(), name="bench"
        )
        try:
            # as `natster hub rebuild` runs: a global service instance is up and competes
            with_instance = await rebuild(nc)
            assert platform.global_service is not None
            await platform.global_service.stop()
            platform.global_service = None
            alone = await rebuild(nc)
        finally:
            await nc.close()
        return {
            "events": loaded["events"],
            "live_projection_catch_up_s": loaded["catch_up_s"],
            "rebuild_with_running_instance": with_instance,
            "rebuild_alone": alone,
            "baseline_raw_read_events_per_s": round(baseline, 1),
            "ratio": round(float(alone["events_per_s"]) / baseline, 3),
        }
    finally:
        await platform.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    print(json.dumps(asyncio.run(main(parser.parse_args().events)), indent=2))
