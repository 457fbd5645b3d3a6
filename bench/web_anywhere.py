"""Benchmark: a 256 MiB file streamed in the browser from the hub's web app, beside the
local web UI's download of the same file, in the same run.

    python -m bench.web_anywhere             # 256 MiB, 3 runs each
    python -m bench.web_anywhere --mib 64 --runs 2

Prints JSON (MB/s, the best of the runs): the baseline, `natster web` on bob's machine
downloading it (decrypted in Python, sent over HTTP); then, in Debian's Chromium signed
in to the hub's web app, the service worker reading it the way a player does (1 MiB
chunks, 4 in flight, decrypted with libsodium in the browser) and as a verified download
(4 MiB chunks, 8 in flight, sha256 checked). Goal: browser streaming >= 0.5 of the local
UI's download. Everything runs on this machine: the hub, alice's catalog server, bob's
`natster web` and the browser share its cores.

Beside them, the ceiling under all of it: how fast the same Chromium takes in a bare
WebSocket from loopback (no TLS, no NATS, nothing to decrypt), in messages of 4 KiB (what
nats-server sends any browser) and of 1 MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if not __package__:  # run as `python bench/web_anywhere.py`: be `bench.web_anywhere`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

import httpx
from playwright.async_api import async_playwright
from tests.test_web_anywhere import _spki_pin
from tests.webworld import World, make_world, run

from ._wsceiling import ceiling
from .web import CHROMIUM_ARGS

READ_IN_PAGE = """async (url) => {
    const began = performance.now();
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
    const reader = response.body.getReader();
    let bytes = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.length;
    }
    return { bytes, seconds: (performance.now() - began) / 1000 };
}"""


def _big_file(media: Path, mib: int) -> str:
    path = media / "big" / "big.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(mib):
            block = os.urandom(1024 * 1024)
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


async def local_download(world: World, path: str, runs: int, size: int) -> float:
    link = run("login", "--no-browser", home=world.bob).strip().splitlines()[-1]
    async with httpx.AsyncClient(base_url=world.url, timeout=120) as http:
        await http.get(link.removeprefix(world.url))  # the session cookie
        best = 0.0
        for _ in range(runs):
            began, got = time.perf_counter(), 0
            async with http.stream("GET", path + "&download=1") as response:
                response.raise_for_status()
                async for piece in response.aiter_raw():
                    got += len(piece)
            assert got == size, got
            best = max(best, size / (time.perf_counter() - began) / 1e6)
    return best


async def in_browser(world: World, path: str, runs: int, mib: int) -> dict[str, Any]:
    size = mib * 1024 * 1024
    pin = _spki_pin(world.hub_dir / "tls" / "server.pem")
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={pin}"],
        )
        page = await browser.new_page()
        await page.goto(world.hub_url + "/")
        code = await page.locator("#signin-code").inner_text(timeout=30_000)
        run("login", code, home=world.bob)
        await page.wait_for_selector("h1:text('Library')", timeout=30_000)
        best: dict[str, Any] = {"stream": 0.0, "download": 0.0}
        for _ in range(runs):
            for kind, url in (("stream", path), ("download", path + "&download=1")):
                got = await page.evaluate(READ_IN_PAGE, url)
                assert got["bytes"] == size, got
                best[kind] = max(best[kind], size / got["seconds"] / 1e6)
        best["ceiling"] = await ceiling(browser, min(mib, 128), (4096, 1024 * 1024))
        await browser.close()
    return best


async def main(mib: int, runs: int) -> dict[str, object]:
    base = Path(tempfile.mkdtemp(prefix="natster-bench-web-anywhere-"))
    file_hash = _big_file(base / "media", mib)  # there before the catalog is made
    worlds = make_world(base, hub_web=True)
    world = next(worlds)
    try:
        size = mib * 1024 * 1024
        path = f"/api/files/{world.alice_key}/demo/{file_hash}?mime=application%2Foctet-stream"
        local = await local_download(world, path, runs, size)
        browser = await in_browser(world, path, runs, mib)
        return {
            "mib": mib,
            "runs": runs,
            "baseline_local_ui_download_mb_s": round(local, 1),
            "browser_stream_mb_s": round(browser["stream"], 1),
            "browser_verified_download_mb_s": round(browser["download"], 1),
            "stream_vs_local": round(browser["stream"] / local, 2),
            "goal_stream_vs_local": 0.5,
            "browser_websocket_ceiling_mb_s": browser["ceiling"],
        }
    finally:
        for _ in worlds:  # the world's processes stop
            pass
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.mib, args.runs)), indent=2))
