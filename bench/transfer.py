"""Benchmark: natster's encrypted, verified download against raw NATS, TLS and plain,
in one run.

    python -m bench.transfer                 # 1 GiB
    python -m bench.transfer --size 10GiB    # peak RSS must stay < 200 MB on each side
    python -m bench.transfer --only tls      # one hub only

Each hub (TLS as users run it, then plain TCP as only a loopback test may), two
processes each time: (1) the baseline, raw nats-py (as it comes) publish -> subscribe of
the same number of bytes in chunk-sized payloads; (2) `natster catalog serve` in one
process and a download in another. Prints JSON with MB/s of both, their ratio (goal
>= 0.5) and the peak RSS (VmHWM) of both download sides, per hub; then the TLS download
against the plain one (goal >= 0.8) and against the plain raw baseline (goal >= 0.5).
For reference it also measures raw publish -> subscribe with natster's receive path
(`natster._natsio`) on the subscriber, and the reply mappings nats-server still holds
for the catalog export once the download is done (goal: 0).
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

if not __package__:  # run as `python bench/transfer.py`: be `bench.transfer` all the same
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from natster import _nats, _tls, limits
from natster.client import Home, join
from natster.hub import mint_invite
from natster.services.platform import Platform

from ._platform import big_sparse_catalog, clean_up, start, write_serving_creds

RAW_SUB = r"""
import asyncio, contextlib, json, sys, time, resource
import nats
from natster.security import parse_creds
from natster import _nats, _tls
async def main(url, creds, total, reader, ca):
    trust = _tls.Trust(open(ca, "rb").read()) if ca else None
    if reader == "natster":  # nats-py with natster's receive path (natster._natsio)
        nc = await _nats.connect(url, parse_creds(open(creds).read()), name="raw-sub",
                                 trust=trust)
    else:  # nats-py as it comes
        tls = {"tls": trust.context(), "tls_handshake_first": True} if trust else {}
        nc = await nats.connect(url, user_credentials=creds, name="raw-sub", **tls)
    got, first, done, ended = 0, None, asyncio.Event(), []
    async def cb(msg):
        nonlocal got, first
        first = first or time.perf_counter()
        before, got = got, got + len(msg.data)
        if got >= total: done.set(); ended.append(time.perf_counter())
        if got // ACK_EVERY != before // ACK_EVERY or got >= total:
            await nc.publish("bench.natster.catalog.ack", str(got).encode())  # flow control
    await nc.subscribe("bench.natster.catalog.raw", cb=cb, pending_bytes_limit=512 * 1024 * 1024)
    await nc.flush(); print("ready", flush=True)
    last = -1
    while not done.is_set() and got != last:  # ends if messages stop coming (lost)
        last = got
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(done.wait(), 5)
    end = ended[0] if ended else time.perf_counter()
    print(json.dumps({"seconds": end - first, "bytes": got}), flush=True)
    await nc.close()
ACK_EVERY = int(sys.argv[5])
asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[6]))
"""

RAW_ACK_EVERY = 8 * 1024 * 1024  # the raw subscriber says how far it got this often...
RAW_AHEAD = 32 * 1024 * 1024  # ...and the publisher stays at most this far ahead of it

DOWNLOAD = r"""
import asyncio, json, os, sys, time
from pathlib import Path
from natster import limits
from natster.client import Home, NatsterClient
from natster.client import remote
from natster.client.download import download, find_entry
async def main(home, out):
    async with await NatsterClient.connect(Home(Path(home))) as client:
        ref = await remote.resolve(client, "big")
        entry = await find_entry(client, ref, "big.img")
        began, cpu = time.perf_counter(), time.process_time()
        in_flight = int(os.environ.get("NATSTER_BENCH_IN_FLIGHT", limits.DOWNLOAD_IN_FLIGHT))
        size = await download(client, ref, entry, Path(out), in_flight=in_flight)
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
    print(json.dumps({"seconds": seconds, "bytes": size, "peak_rss_mb": int(hwm) / 1024,
                      "cpu_s": cpu}))
asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def parse_size(text: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    text = text.lower().removesuffix("ib").removesuffix("b")
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


async def raw_baseline(
    url: str, creds: Path, total: int, chunk: int, reader: str, ca: Path | None
) -> float:
    """MB/s of raw publish -> subscribe; ``reader``: "stock" nats-py, or "natster"'s;
    ``ca``: the hub's CA (TLS), or None (plain TCP)."""
    sub = subprocess.Popen(
        [
            *(sys.executable, "-c", RAW_SUB, url, str(creds), str(total), reader),
            *(str(RAW_ACK_EVERY), str(ca or "")),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sub.stdout is not None
    assert (await asyncio.to_thread(sub.stdout.readline)).strip() == "ready"
    import nats

    tls: dict[str, Any] = {}
    if ca is not None:
        tls = {"tls": _tls.Trust(ca.read_bytes()).context(), "tls_handshake_first": True}
    nc = await nats.connect(url, user_credentials=str(creds), name="raw-pub", **tls)
    payload = os.urandom(chunk)
    sent, acked, moved = 0, 0, asyncio.Event()

    async def on_ack(msg: Any) -> None:
        nonlocal acked
        acked = int(msg.data)
        moved.set()

    await nc.subscribe("bench.natster.catalog.ack", cb=on_ack)
    while sent < total:
        while sent - acked > RAW_AHEAD:  # the subscriber's pace: no slow-consumer drops
            moved.clear()
            await asyncio.wait_for(moved.wait(), 60)
        await nc.publish("bench.natster.catalog.raw", payload)
        sent += len(payload)
    await nc.flush()
    result = json.loads(await asyncio.to_thread(sub.stdout.readline))
    if result["bytes"] < total:
        raise SystemExit(f"the raw baseline lost messages ({result['bytes']} of {total})")
    sub.wait(timeout=60)
    await nc.close()
    return float(result["bytes"] / result["seconds"] / 1e6)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def nats_server_pid(conf: Path) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(conf).encode() in (entry / "cmdline").read_bytes():
                    return int(entry.name)
            except OSError:
                continue
    raise SystemExit("nats-server not found")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return 0.0


async def reply_mappings(platform: Platform, account: str) -> int:
    """How many reply mappings nats-server holds for ``account``'s exports right now."""
    trust = platform.dir.trust()
    state = platform.dir.require_running()
    nc = await _nats.connect(state.local_url, platform.dir.creds("sys"), name="bench", trust=trust)
    try:
        reply = await nc.request(f"$SYS.REQ.ACCOUNT.{account}.INFO", b"", timeout=5)
    finally:
        await nc.close()
    return len(json.loads(reply.data)["data"].get("responses") or {})


async def main(size: int, chunk: int, only: str | None = None) -> dict[str, Any]:
    if only:
        return await scenario(size, chunk, plain=only == "plain")
    hubs = {name: await scenario(size, chunk, plain=name == "plain") for name in HUBS}
    tls, plain = hubs["tls"], hubs["plain"]
    tls_mb_s, plain_mb_s = tls["natster_download_mb_s"], plain["natster_download_mb_s"]
    raw_plain = plain["baseline_raw_pub_sub_mb_s"]
    return {
        **hubs,
        "tls_vs_plain_download": round(tls_mb_s / plain_mb_s, 3),
        "tls_download_vs_plain_raw": round(tls_mb_s / raw_plain, 3),
        "goal_tls_vs_plain_ge_0.8": tls_mb_s / plain_mb_s >= 0.8,
        "goal_tls_vs_raw_ge_0.5": tls_mb_s / raw_plain >= 0.5,
    }


HUBS = ("tls", "plain")


async def scenario(size: int, chunk: int, *, plain: bool) -> dict[str, Any]:
    """One hub (TLS, or plain TCP), its raw baselines and one download."""
    base = Path(tempfile.mkdtemp(prefix="natster-bench-transfer-"))
    platform = await start(base / "hub", plain=plain)
    server = None
    try:
        homes = {}
        for name in ("alice", "bob"):
            homes[name] = Home(base / name)
            await join((await mint_invite(platform.dir, 600)).encode(), home=homes[name], name=name)
        big_sparse_catalog(homes["alice"], base / "media", size)
        state = platform.dir.run_state()
        assert state is not None
        env = {**os.environ, "NATSTER_HOME": str(homes["alice"].path)}
        profile = os.environ.get("NATSTER_BENCH_PROFILE")
        recorder = (
            [
                profile,
                "record",
                *(["--native"] if os.environ.get("NATSTER_BENCH_NATIVE") else []),
                "-f",
                "raw",
                "-r",
                "300",
                "-o",
            ]
            if profile
            else []
        )
        server = subprocess.Popen(
            [
                *([*recorder, str(base.parent / "srv.prof"), "--"] if profile else []),
                sys.executable,
                "-m",
                "natster",
                "catalog",
                "serve",
                "big",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=(base / "serve.err").open("w"),
            text=True,
        )
        assert server.stdout is not None
        for _ in range(5):  # a profiler may print a banner first
            if "serving" in await asyncio.to_thread(server.stdout.readline):
                break
        else:
            raise SystemExit((base / "serve.err").read_text())
        bob_env = {**os.environ, "NATSTER_HOME": str(homes["bob"].path)}
        for args in (
            [
                "catalog",
                "share",
                "big",
                json.loads((homes["bob"].path / "context.json").read_text())["account"],
            ],
        ):
            await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "natster", *args],
                env=env,
                check=True,
                capture_output=True,
            )
        alice_key = json.loads((homes["alice"].path / "context.json").read_text())["account"]
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "natster", "catalog", "import", "big", alice_key],
            env=bob_env,
            check=True,
            capture_output=True,
        )

        creds = await write_serving_creds(homes["bob"], base / "serving.creds")  # 4 MiB messages
        trust = platform.dir.trust()
        ca = None
        if trust is not None and trust.ca_pem is not None:
            ca = base / "ca.pem"
            ca.write_bytes(trust.ca_pem)
        nats_pid = nats_server_pid(platform.dir.server_conf)
        nats_cpu = cpu_seconds(nats_pid)
        baseline = await raw_baseline(state.local_url, creds, size, chunk, "stock", ca)
        raw_nats_cpu = cpu_seconds(nats_pid) - nats_cpu
        tuned = await raw_baseline(state.local_url, creds, size, chunk, "natster", ca)
        began = time.perf_counter()
        cpu_before = {"server": cpu_seconds(server.pid), "nats-server": cpu_seconds(nats_pid)}
        profile = os.environ.get("NATSTER_BENCH_PROFILE")
        prefix = (
            [
                profile,
                "record",
                *(["--native"] if os.environ.get("NATSTER_BENCH_NATIVE") else []),
                "-f",
                "raw",
                "-o",
                str(base.parent / "dl.prof"),
                "-r",
                "300",
                "--",
            ]
            if profile
            else []
        )
        result = await asyncio.to_thread(
            subprocess.run,
            [
                *prefix,
                sys.executable,
                "-c",
                DOWNLOAD,
                str(homes["bob"].path),
                str(base / "out.img"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise SystemExit(result.stderr)
        ours = json.loads(
            next(x for x in reversed(result.stdout.splitlines()) if x.startswith("{"))
        )
        wall = time.perf_counter() - began
        cpu = {  # CPU seconds per GB moved: where the 2 cores go (server/nats: incl. startup)
            "downloader": ours["cpu_s"],
            "server": cpu_seconds(server.pid) - cpu_before["server"],
            "nats-server": cpu_seconds(nats_pid) - cpu_before["nats-server"],
        }
        mb_s = ours["bytes"] / ours["seconds"] / 1e6
        return {
            "hub": "plain TCP" if plain else "TLS",
            "size_bytes": size,
            "chunk_size": chunk,
            "in_flight_max": int(
                os.environ.get("NATSTER_BENCH_IN_FLIGHT", limits.DOWNLOAD_IN_FLIGHT)
            ),
            "baseline_raw_pub_sub_mb_s": round(baseline, 1),
            "raw_pub_sub_natster_reader_mb_s": round(tuned, 1),
            "natster_download_mb_s": round(mb_s, 1),
            "ratio": round(mb_s / baseline, 3),
            "ratio_vs_natster_reader": round(mb_s / tuned, 3),
            "download_wall_s_with_startup": round(wall, 2),
            "peak_rss_mb": {
                "downloader": round(ours["peak_rss_mb"], 1),
                "server": round(peak_rss_mb(server.pid), 1),
            },
            "cpu_seconds_per_gb": {k: round(v / (size / 1e9), 2) for k, v in cpu.items()},
            "baseline_nats_server_cpu_seconds_per_gb": round(raw_nats_cpu / (size / 1e9), 2),
            "goal_ratio_ge_0.5": mb_s / baseline >= 0.5,
            "reply_mappings_left": await reply_mappings(platform, alice_key),
        }
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)  # a clean stop (and a profiler writes its file)
            server.wait(timeout=30)
        await platform.stop()
        clean_up(base)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--chunk", default=str(limits.CHUNK_SIZE), help="bytes per chunk")
    parser.add_argument("--only", choices=HUBS, help="measure one hub only")
    args = parser.parse_args()
    chunk = parse_size(args.chunk)
    os.environ["NATSTER_BENCH_CHUNK"] = str(chunk)
    print(json.dumps(asyncio.run(main(parse_size(args.size), chunk, args.only)), indent=2))
