"""Benchmark: the web UI on a 200,000-entry catalog, against the NATS page it is made of.

    python -m bench.web                  # 200,000 entries
    python -m bench.web --entries 20000

Prints JSON: the baseline (one `contents` page of 500 entries over NATS, p50/p99 ms, as
`natster catalog contents` gets it), the same page through `natster web`'s HTTP API,
and in Debian's Chromium: the time from opening the catalog to its top folder's rows on
screen, and, in a search every entry matches, the time each scroll to the bottom takes
to show the next 500 rows.
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

if not __package__:  # run as `python bench/web.py`: be `bench.web` all the same
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from playwright.async_api import async_playwright

from natster.client import remote

from ._platform import big_catalog_shared, natster_web, percentiles, start

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def browser_timings(url: str, link: str, owner: str, scrolls: int) -> dict[str, object]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1100, "height": 800})
        await page.goto(link)
        await page.wait_for_selector("h1")
        began = time.perf_counter()
        await page.goto(f"{url}/#/c/{owner}/big")
        await page.wait_for_selector("td.name")
        first = (time.perf_counter() - began) * 1000
        # a listing long enough to scroll: a search every entry matches, page by page
        await page.goto(f"{url}/#/c/{owner}/big?q=file&view=list")
        await page.wait_for_selector("tr[data-path]")
        loads = []
        for _ in range(scrolls):
            rows = await page.locator("tr[data-path]").count()
            if not await page.locator("button.more").count():
                break  # the whole listing is shown
            began = time.perf_counter()
            await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            while await page.locator("tr[data-path]").count() <= rows:
                if not await page.locator("button.more").count():
                    break  # that was the end: an empty last page
                await asyncio.sleep(0.005)
            loads.append((time.perf_counter() - began) * 1000)
        rows = await page.locator("tr[data-path]").count()
        await browser.close()
    return {
        "first_rows_ms": round(first, 1),
        "next_page_ms": percentiles(loads),
        "rows_shown": rows,
    }


async def main(entries: int, samples: int) -> dict[str, object]:
    base = Path(tempfile.mkdtemp(prefix="natster-bench-web-"))
    platform = await start(base / "hub")
    try:
        async with big_catalog_shared(base, platform, entries) as shared:
            alice, bob, ref = shared.alice, shared.bob, shared.ref
            half = entries // 2
            middle = f"folder{half // 1000:03}/file {half:07}.mkv"  # a page mid-way
            nats_ms = []
            for _ in range(samples):
                began = time.perf_counter()
                await remote.page(bob, ref, after=middle, limit=500)
                nats_ms.append((time.perf_counter() - began) * 1000)

            async with natster_web(bob) as (url, http):
                http_ms = []
                path = f"/api/catalogs/{alice.account}/big/entries"
                for _ in range(samples):
                    began = time.perf_counter()
                    response = await http.get(path, params={"after": middle, "limit": 500})
                    http_ms.append((time.perf_counter() - began) * 1000)
                    assert len(response.json()["entries"]) == 500
                code = (await bob.otc_generate()).code
                seen = await browser_timings(url, f"{url}/login?code={code}", alice.account, 10)
        return {
            "entries": entries,
            "baseline_nats_page_of_500": percentiles(nats_ms),
            "http_api_page_of_500": percentiles(http_ms),
            "browser": seen,
        }
    finally:
        await platform.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.entries, args.samples)), indent=2))
