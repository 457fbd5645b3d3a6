"""Benchmark: paging a 200,000-entry catalog through an import, as a recipient does.

    python -m bench.contents                 # 200,000 entries
    python -m bench.contents --entries 20000

Prints JSON: per-page latency (p50/p99 ms) for pages of 500 and 2000 entries and for a
search, and the baseline measured in the same run: a raw NATS request/reply to an echo
responder on the recipient's own connection. Goal: p99 < 50 ms per page.
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
from typing import Any

if not __package__:  # run as `python bench/contents.py`: be `bench.contents` all the same
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from natster import endpoints, wire
from natster.client import NatsterClient, remote

from ._platform import big_catalog_shared, echo_baseline, percentiles, start


async def page_all(
    client: NatsterClient, ref: remote.CatalogRef, size: int, **kw: Any
) -> list[float]:
    samples = []
    after = ""
    endpoint = endpoints.SEARCH if kw.get("text") else endpoints.CONTENTS
    while True:
        began = time.perf_counter()
        body = wire.ContentsRequest(after=after, limit=size, **kw)
        data = await remote._request(client, ref, endpoint, body)
        samples.append((time.perf_counter() - began) * 1000)
        if data["next"] is None:
            return samples
        after = data["next"]


async def main(entries: int) -> dict[str, object]:
    base = Path(tempfile.mkdtemp(prefix="natster-bench-contents-"))
    platform = await start(base / "hub")
    try:
        async with big_catalog_shared(base, platform, entries) as shared:
            bob, ref = shared.bob, shared.ref
            result: dict[str, object] = {
                "entries": entries,
                "baseline_raw_request": await echo_baseline(bob.connection, 400),
                "pages_of_500": percentiles(await page_all(bob, ref, 500)),
                "pages_of_2000": percentiles(await page_all(bob, ref, 2000)),
                "search_pages_of_500": percentiles(await page_all(bob, ref, 500, text="file 01")),
            }
        worst = max(result[k]["p99_ms"] for k in ("pages_of_500", "pages_of_2000"))  # type: ignore[index]
        result["goal_p99_lt_50ms"] = worst < 50
        return result
    finally:
        await platform.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=200_000)
    print(json.dumps(asyncio.run(main(parser.parse_args().entries)), indent=2))
