"""Benchmark: natster on emulated internet links, side by side with magic-wormhole's relay.

    python -m bench.wan                  # every case (about 12 minutes here)
    python -m bench.wan --rates 20       # the 20 Mbit/s cases only
    python -m bench.wan --no-wormhole    # natster only

Each person's connections to the hub cross their own line (bench/_links.py: a rate,
shared by all of that person's connections, a one-way delay D, and a round trip before a
new connection carries anything). alice serves with `natster catalog serve`, bob downloads
with `natster catalog download`, both as people run them, each with NATSTER_HOME pointing
at the hub through their line. Cases, JSON:

- downloads with the owner's upload, then bob's download, at 10 and 20 Mbit/s (the other
  side 100 Mbit/s), and both at 100 Mbit/s; D = 20 and 60 ms; the files of issue 32's
  table (40 MiB at 10 Mbit/s, 100 MiB at 20 and 100), or with --line-seconds S, files of
  S seconds of their line. For each: the whole command's rate as a fraction of the line,
  its data phase's, and the bytes the owner sent per byte of the file; the whole command
  for a 1-byte file on the same line (``fixed_s``: starting, connecting, asking; what no
  file size changes) and the best fraction a command with that fixed cost could reach
  (``ceiling_of_line``). magic-wormhole 0.24's relay moves the same files over the same
  lines: its mailbox and transit relay on loopback, each side's mailbox connection
  through its own line (as wormhole's public mailbox is on the internet), the relay's
  through the owner's upload and the receiver's download, and `--no-listen` on both
  sides so the bytes take the relay. Goals: >= 0.9 of the line, >= the relay's, owner
  bytes <= 1.02x.
- control requests during a download from a 20 Mbit/s owner: a listing (`contents`)
  every 0.3 s; goal < 0.5 s.
- a player behind a 20 Mbit/s owner, and behind a 10 Mbit/s, 120 ms RTT receiver: the
  first byte, then four seeks (a new range each, read 256 KiB, dropped: scrubbing
  through a film, 1 MiB read in all); goals: each
  < 0.5 s (owner 20 Mbit/s) and < 1 s (the mobile line), <= 4 MB crossing bob's line
  for the four.

The wormhole tools go in a venv of their own (NATSTER_BENCH_WORMHOLE_VENV, default
~/.cache/natster-bench/wormhole), made on first use from the package index.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

if not __package__:  # run as `python bench/wan.py`: be `bench.wan` all the same
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from natster import _nats
from natster._fs import write_atomic
from natster.catalog import Catalogs
from natster.client import Home, NatsterClient, join, remote
from natster.client.download import find_entry
from natster.client.transfer import Transfer
from natster.hub import mint_invite

from ._links import MBIT, Link, Pipe, busy_seconds
from ._platform import _url, clean_up, free_port, start

MiB = 1024 * 1024
SCRUB = 256 * 1024  # what a player reads of each place before it seeks again
LINE_SECONDS = 12  # the control and player cases' files are about this long on the line
DOWNLOAD_MIB = {10.0: 40, 20.0: 100, 100.0: 100}  # the files of issue 32's table
SEEKS = (20 * MiB + 12345, 5 * MiB, 28 * MiB, 13 * MiB)
WORMHOLE = (
    "magic-wormhole==0.24.0",
    "magic-wormhole-transit-relay",
    "magic-wormhole-mailbox-server",
)


class Person:
    """Someone behind a line to the hub."""

    def __init__(self, name: str, home: Home, hub: Link) -> None:
        self.name, self.home, self.hub = name, home, hub

    def line(self, up: float, down: float, delay: float) -> None:
        self.hub.up.rate, self.hub.down.rate = up * MBIT, down * MBIT
        self.hub.up.delay = self.hub.down.delay = delay

    def env(self) -> dict[str, str]:
        return {**os.environ, "NATSTER_HOME": str(self.home.path)}

    async def client(self) -> NatsterClient:
        context = self.home.load()
        nc = await _nats.connect(
            context.url, self.home.creds(), name="bench", trust=self.home.trust(context)
        )
        return NatsterClient(self.home, context, nc)


async def person(base: Path, name: str, invite: str, hub: tuple[str, int]) -> Person:
    home = Home(base / name)
    await join(invite, home=home, name=name)
    link = await Link(hub, up_mbit=100, down_mbit=100, delay=0.02).start()
    context = home.load()  # every connection of this person crosses the line from now on
    write_atomic(home.context_file, context.model_copy(update={"url": link.url}).model_dump_json())
    return Person(name, home, link)


def relay_line(relay: Link, alice: Person, bob: Person) -> None:
    """The wormhole relay behind both lines at once: each side is given every relay hint
    (and a receiver takes the first that answers), so one proxy carries both: up, what the
    sender sends, at alice's upload; down, what the receiver gets, at bob's download."""
    relay.up.rate, relay.down.rate = alice.hub.up.rate, bob.hub.down.rate
    relay.up.delay = relay.down.delay = alice.hub.up.delay


def cases(rates: list[float]) -> list[dict[str, Any]]:
    """(who is slow, rate, D) for every download case."""
    out = []
    for delay in (0.02, 0.06):
        for rate in rates:
            sides = ["both"] if rate >= 100 else ["owner up", "receiver down"]
            out += [{"slow": side, "mbit": rate, "delay_ms": delay * 1000} for side in sides]
    return out


async def natster_download(
    alice: Person, bob: Person, size: int, out: Path, *, name: str, line: Pipe | None = None
) -> dict[str, Any]:
    """``natster catalog download`` as bob runs it; ``line``: the pipe that limits it,
    whose trace gives the data phase."""
    before = alice.hub.up.bytes
    if line is not None:
        line.trace = []
    began = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "natster", "catalog", "download", "films", name, str(out),
        env=bob.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await proc.communicate()
    seconds = time.monotonic() - began
    if proc.returncode != 0:
        raise SystemExit(f"natster catalog download failed: {stderr.decode()}")
    out.unlink()
    result: dict[str, Any] = {
        "seconds": round(seconds, 2),
        "owner_bytes_per_file_byte": (alice.hub.up.bytes - before) / size,
    }
    if line is not None and line.trace:
        result["data_phase_seconds"] = round(busy_seconds(line.trace), 2)
        line.trace = None
    return result


async def control_during_download(
    alice: Person, bob: Person, size: int, base: Path
) -> dict[str, Any]:
    """Listings from bob while his download fills alice's 20 Mbit/s upload."""
    alice.line(20, 100, 0.02)
    bob.line(100, 100, 0.02)
    download = asyncio.create_task(
        natster_download(alice, bob, size, base / "during", name="film20")
    )
    took: list[float] = []
    async with await bob.client() as client:
        ref = await remote.resolve(client, "films")
        await asyncio.sleep(2.0)
        while not download.done() and len(took) < 15:
            began = time.monotonic()
            await remote.page(client, ref, prefix="")
            took.append(time.monotonic() - began)
            await asyncio.sleep(0.3)
    await download
    took.sort()
    return {
        "line": "owner up 20 Mbit/s, D 20 ms",
        "contents_s": {"median": round(took[len(took) // 2], 3), "max": round(took[-1], 3)},
        "asked": len(took),
        "goal_lt_0.5_s": took[-1] < 0.5,
    }


async def player(alice: Person, bob: Person, line: str, goal: float) -> dict[str, Any]:
    """First byte, then four seeks, each a new range read for 256 KiB and dropped."""
    async with await bob.client() as client:
        ref = await remote.resolve(client, "films")
        entry = await find_entry(client, ref, "film32")
        times, crossed = [], 0
        for number, start in enumerate((0, *SEEKS)):
            if number == 1:
                crossed = bob.hub.down.bytes
            began = time.monotonic()
            async with await Transfer(client, ref, entry.hash, size=entry.size).open() as t:
                reading, got = t.read(start, entry.size), 0
                async for piece in reading:
                    if not got:
                        times.append(time.monotonic() - began)
                    got += len(piece)
                    if got >= SCRUB:
                        break
                await reading.aclose()
            await asyncio.sleep(0.5)  # what was in flight arrives, and counts
        crossed = bob.hub.down.bytes - crossed
    return {
        "line": line,
        "first_byte_s": round(times[0], 3),
        "seeks_s": [round(t, 3) for t in times[1:]],
        "mb_crossing_for_4_seeks": round(crossed / 1e6, 2),
        f"goal_lt_{goal:g}_s": max(times) < goal,
        "goal_le_4_mb": crossed <= 4e6,
    }


async def stopped(proc: subprocess.Popen[bytes], seconds: float) -> None:
    """Ctrl-C for ``proc``, killed if still there after ``seconds``. Never blocking: the
    lines its connections cross are this event loop's."""
    proc.send_signal(signal.SIGINT)
    for _ in range(int(seconds * 10)):
        if proc.poll() is not None:
            return
        await asyncio.sleep(0.1)
    proc.kill()


# --- magic-wormhole's relay --------------------------------------------------------------
def wormhole_venv() -> Path:
    venv = Path(
        os.environ.get("NATSTER_BENCH_WORMHOLE_VENV", Path.home() / ".cache/natster-bench/wormhole")
    )
    if not (venv / "bin" / "wormhole").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, *WORMHOLE], check=True)
    return venv


@contextlib.asynccontextmanager
async def wormhole_servers(venv: Path, base: Path) -> AsyncIterator[tuple[int, int]]:
    mailbox, relay = free_port(), free_port()
    twist = str(venv / "bin" / "twist")
    procs = [
        subprocess.Popen(
            [
                twist,
                "--log-file",
                str(base / f"{what}.log"),
                what,
                f"--port=tcp:{port}:interface=127.0.0.1",
            ],
            cwd=base,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for what, port in (("wormhole-mailbox", mailbox), ("transitrelay", relay))
    ]
    try:
        await asyncio.sleep(3.0)  # twisted starts in about a second
        yield mailbox, relay
    finally:
        for proc in procs:
            await stopped(proc, 10.0)


async def wormhole_send(
    venv: Path, mailboxes: tuple[Link, Link], relay: Link, path: Path, out: Path, code: str
) -> float:
    """``wormhole send`` (alice) and ``receive`` (bob), each through their own line to the
    mailbox; the seconds until bob has the file."""
    wormhole = str(venv / "bin" / "wormhole")
    helper = f"tcp:127.0.0.1:{relay.port}"
    urls = [f"ws://127.0.0.1:{link.port}/v1" for link in mailboxes]
    began = time.monotonic()
    send = await asyncio.create_subprocess_exec(
        wormhole, "--relay-url", urls[0], "--transit-helper", helper,
        "send", "--no-listen", "--hide-progress", "--code", code, str(path),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    receive = await asyncio.create_subprocess_exec(
        wormhole, "--relay-url", urls[1], "--transit-helper", helper,
        "receive", "--no-listen", "--hide-progress", "--accept-file", "-o", str(out), code,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await receive.communicate()
    seconds = time.monotonic() - began
    await send.wait()
    if receive.returncode != 0 or out.stat().st_size != path.stat().st_size:
        raise SystemExit(f"wormhole receive failed: {stderr.decode()[-500:]}")
    out.unlink()
    return seconds


def on_line_of(person: Person, link: Link) -> Link:
    """``link`` made part of ``person``'s line: its connections share the same pipes."""
    link.up, link.down = person.hub.up, person.hub.down
    return link


def write_random(path: Path, size: int) -> None:
    with path.open("wb") as handle:
        for _ in range(-(-size // MiB)):
            handle.write(os.urandom(min(MiB, size - handle.tell())))


# --- the run ---------------------------------------------------------------------------
async def main(
    rates: list[float], with_wormhole: bool, line_seconds: float | None = None
) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="natster-wan-"))
    platform = await start(base / "hub")
    server: subprocess.Popen[bytes] | None = None
    try:
        hub = ("127.0.0.1", int(_url(platform).rsplit(":", 1)[1]))
        alice, bob = [
            await person(base, name, (await mint_invite(platform.dir, 3600)).encode(), hub)
            for name in ("alice", "bob")
        ]
        media = base / "media"
        media.mkdir()
        sizes = {f"film{int(r)}": int(r * MBIT * LINE_SECONDS) for r in (20.0, 32.0)}
        for rate in rates:
            mib = DOWNLOAD_MIB.get(rate) if line_seconds is None else None
            seconds = line_seconds or LINE_SECONDS
            sizes[f"download{int(rate)}"] = mib * MiB if mib else int(rate * MBIT * seconds)
        sizes["tiny"] = 1
        for name, size in sizes.items():
            write_random(media / name, size)
        with Catalogs(alice.home.path) as mine:
            mine.new("films", "", media)
        server = subprocess.Popen(
            [sys.executable, "-m", "natster", "catalog", "serve", "films"],
            env=alice.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        async with await alice.client() as a:
            await remote.share(a, "films", bob.home.load().account)
        async with await bob.client() as b:
            await remote.import_catalog(b, "films", alice.home.load().account)
            for _ in range(100):  # the server is up
                with contextlib.suppress(Exception):
                    await remote.page(b, await remote.resolve(b, "films"), prefix="")
                    break
                await asyncio.sleep(0.2)
        venv = wormhole_venv() if with_wormhole else None
        results: list[dict[str, Any]] = []
        async with contextlib.AsyncExitStack() as stack:
            relay = mailboxes = None
            if venv is not None:
                mailbox, port = await stack.enter_async_context(wormhole_servers(venv, base))
                relay = await stack.enter_async_context(
                    Link(("127.0.0.1", port), up_mbit=100, down_mbit=100, delay=0.02)
                )
                mailboxes = (  # each side's mailbox connection crosses its own line
                    on_line_of(alice, await stack.enter_async_context(mailbox_link(mailbox))),
                    on_line_of(bob, await stack.enter_async_context(mailbox_link(mailbox))),
                )
            for number, case in enumerate(cases(rates)):
                rate, delay = case["mbit"], case["delay_ms"] / 1000
                alice.line(rate if case["slow"] != "receiver down" else 100, 100, delay)
                bob.line(100, rate if case["slow"] != "owner up" else 100, delay)
                name = f"download{int(rate)}"
                size = sizes[name]
                limiting = bob.hub.down if case["slow"] == "receiver down" else alice.hub.up
                ours = await natster_download(
                    alice, bob, size, base / "out", name=name, line=limiting
                )
                fixed = await natster_download(alice, bob, 1, base / "out", name="tiny")
                line_s = size / (rate * MBIT)
                case |= {"file_mb": round(size / 1e6, 1), "line_s": round(line_s, 2)}
                case["natster"] = ours
                ours["of_line"] = round(line_s / ours["seconds"], 3)
                if "data_phase_seconds" in ours:
                    ours["data_phase_of_line"] = round(line_s / ours["data_phase_seconds"], 3)
                ours["owner_bytes_per_file_byte"] = round(ours["owner_bytes_per_file_byte"], 3)
                ours["fixed_s"] = fixed["seconds"]
                ours["ceiling_of_line"] = round(line_s / (line_s + fixed["seconds"]), 3)
                if venv is not None and relay is not None and mailboxes is not None:
                    relay_line(relay, alice, bob)
                    code = f"{2 * number + 2}-bench-wan"
                    theirs = await wormhole_send(
                        venv, mailboxes, relay, media / name, base / "w-out", code
                    )
                    code = f"{2 * number + 3}-bench-wan"
                    floor = await wormhole_send(
                        venv, mailboxes, relay, media / "tiny", base / "w-out", code
                    )
                    case["wormhole_relay"] = {
                        "seconds": round(theirs, 2),
                        "of_line": round(line_s / theirs, 3),
                        "fixed_s": round(floor, 2),
                    }
                    case["goal_ge_wormhole"] = ours["seconds"] <= theirs
                case["goal_ge_0.9_of_line"] = ours["of_line"] >= 0.9
                case["goal_owner_bytes_le_1.02"] = ours["owner_bytes_per_file_byte"] <= 1.02
                results.append(case)
                print(json.dumps(case), file=sys.stderr)
        during = await control_during_download(alice, bob, sizes["film20"], base)
        alice.line(20, 100, 0.02)
        bob.line(100, 100, 0.02)
        players = [await player(alice, bob, "owner up 20 Mbit/s, D 20 ms", 0.5)]
        alice.line(100, 100, 0.06)
        bob.line(100, 10, 0.06)
        players.append(await player(alice, bob, "receiver down 10 Mbit/s, D 60 ms", 1.0))
        return {"downloads": results, "control_during_download": during, "player": players}
    finally:
        if server is not None:
            await stopped(server, 30.0)
        await platform.stop()
        clean_up(base)


def mailbox_link(port: int) -> Link:
    return Link(("127.0.0.1", port), up_mbit=100, down_mbit=100, delay=0.02)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[10.0, 20.0, 100.0])
    parser.add_argument("--no-wormhole", action="store_true", help="natster only")
    parser.add_argument(
        "--line-seconds",
        type=float,
        help="every download's file this many seconds of its line (default: the issue's "
        "files, 40 MiB at 10 Mbit/s and 100 MiB at 20 and 100)",
    )
    args = parser.parse_args()
    result = asyncio.run(main(args.rates, not args.no_wormhole, args.line_seconds))
    print(json.dumps(result, indent=2))
