"""Run inside a network namespace by tests/test_direct_netns.py: download one file as
this NATSTER_HOME's user with natster's client and say, as JSON, which way its bytes
came and when that was settled (the receiver's own clock, not the test's)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time
from pathlib import Path

from natster.client import NatsterClient, remote
from natster.client.download import download, open_or_locate
from natster.client.transfer import Transfer


async def main(catalog: str, path: str, out: str) -> None:
    async with await NatsterClient.connect() as client:
        ref = await remote.resolve(client, catalog)
        began = time.monotonic()
        transfer = await open_or_locate(client, ref, path)
        if not isinstance(transfer, Transfer):
            raise SystemExit(f"{path} is a folder")
        first = await transfer.settled()
        settled = time.monotonic() - began
        await download(client, ref, transfer, Path(out))
        seconds = time.monotonic() - began
    digest = hashlib.sha256(Path(out).read_bytes()).hexdigest()
    said = {"first": first, "route": transfer.route, "settled_s": settled, "seconds": seconds}
    print(json.dumps({**said, "sha256": digest}))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
