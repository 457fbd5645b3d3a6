"""Shared by the benchmarks: a platform in a temp dir, loaded with events or a catalog."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from natster import _nats
from natster import events as ev
from natster._fs import write_atomic
from natster.catalog import Catalogs, Entry
from natster.client import Home, NatsterClient, join, remote
from natster.client.serving import serving_grant
from natster.hub import mint_invite
from natster.hub.cluster.node_join import join as join_node
from natster.hub.cluster.node_join import mint_node_token
from natster.security import Creds, KeyKind, KeyPair
from natster.services.catalog_service import CatalogServer
from natster.services.global_service import GlobalService
from natster.services.platform import Platform

# Below Linux's ephemeral range (32768-60999): the port an outgoing connection is given
# can never be one handed out here, between handing it out and its server binding it.
_PORTS = range(20000, 32768)
_SHARES = 8  # the range in parts: one for each pytest-xdist worker, one for the rest
_handed_out: set[int] = set()
_pick = random.SystemRandom()


def _my_ports() -> range:
    """This process's part of the range: each pytest-xdist worker (and what it starts)
    has its own, and a process that is none of them (the cluster tests beside them, a
    benchmark) the first; two never hand out one port to servers running at once."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ...
    number = worker.removeprefix("gw")
    part = int(number) % (_SHARES - 1) + 1 if worker.startswith("gw") and number.isdigit() else 0
    size = len(_PORTS) // _SHARES
    return range(_PORTS.start + part * size, _PORTS.start + (part + 1) * size)


def clean_up(base: Path) -> None:
    """Remove a bench's scratch folder, unless ``NATSTER_BENCH_KEEP`` is set (to read its
    servers' logs afterwards)."""
    if not os.environ.get("NATSTER_BENCH_KEEP"):
        shutil.rmtree(base, ignore_errors=True)


def free_port() -> int:
    """A port nothing listens on now and this process never handed out before (two asked
    for one server, e.g. its client and websocket ports, are never the same)."""
    ports = _my_ports()
    if len(_handed_out) > len(ports) // 2:  # a long run: forget the oldest worries
        _handed_out.clear()
    while True:
        port = _pick.choice(ports)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port


async def start(path: Path, *, plain: bool = False) -> Platform:
    """A hub and global service in ``path``: TLS as users run it, or plain TCP (``plain``)."""
    platform = Platform(path, port=free_port(), insecure_plain=plain)
    await platform.start()
    return platform


@contextlib.asynccontextmanager
async def local_cluster(
    base: Path, nodes: int = 3, founder: Path | None = None
) -> AsyncIterator[list[Platform]]:
    """``nodes`` hub nodes on loopback ports, made as an operator makes them: the first
    founds the cluster (its JetStream waits for peers), the others join it with node
    tokens it minted. Each node is a whole platform (account and global service).
    ``founder``: a hub of one node that grows into the cluster (on its own port)."""
    made: list[Platform] = []
    starting: list[asyncio.Task[object]] = []
    try:
        for i in range(nodes):
            path = founder if founder is not None and not i else base / f"n{i + 1}"
            port, cluster_port = free_port(), free_port()
            if i:
                text = mint_node_token(made[0].dir, 600).encode()
                await join_node(
                    path,
                    text,
                    node=f"n{i + 1}",
                    host="127.0.0.1",
                    port=port,
                    cluster_port=cluster_port,
                )
                platform = Platform(path)
            else:
                own = None if founder is not None else port  # a grown hub keeps its port
                platform = Platform(path, port=own, cluster_port=cluster_port, node="n1")
            made.append(platform)
            starting.append(asyncio.create_task(platform.start()))
            while not i and made[0].dir.run_state() is None:  # the founder invites once up
                if starting[0].done():
                    starting[0].result()  # its failure, said
                await asyncio.sleep(0.05)
        await asyncio.wait_for(asyncio.gather(*starting), 90)
        yield made
    finally:
        for task in starting:
            task.cancel()
        await asyncio.gather(*starting, return_exceptions=True)
        await asyncio.gather(*(n.stop() for n in made), return_exceptions=True)


async def load(platform: Platform, accounts: int, shares: int, seed: int = 7) -> dict[str, float]:
    """Publish ``accounts`` initializations and ``shares`` shares straight into the stream.

    Returns how long publishing took and how long the live projectors needed to catch up.
    """
    rng = random.Random(seed)
    keys = [KeyPair.create(KeyKind.ACCOUNT).public_key for _ in range(accounts)]
    config = platform.dir.load()
    nc = await _nats.connect(
        _url(platform), platform.dir.creds("global"), trust=platform.dir.trust(), name="bench-load"
    )
    js = nc.jetstream()
    pending: list[asyncio.Future[object]] = []
    began = time.perf_counter()
    last_seq = 0

    async def put(event: ev.CloudEvent) -> None:
        nonlocal last_seq
        ack = await js.publish(
            event.stream_subject(), event.model_dump_json().encode(), stream=ev.STREAM
        )
        last_seq = max(last_seq, ack.seq)

    async def flush() -> None:
        await asyncio.gather(*pending)
        pending.clear()

    for i, account in enumerate(keys):
        data = ev.AccountInitialized(account=account, name=f"user{i}")
        event = ev.make_event(ev.ACCOUNT_INITIALIZED, config.accounts["accounts"], data, account)
        pending.append(asyncio.ensure_future(put(event)))
        if len(pending) >= 500:
            await flush()
    made: set[tuple[str, str, str]] = set()
    while len(made) < shares:
        owner, target = rng.sample(keys, 2)
        catalog = f"c{rng.randrange(20)}"
        if (owner, catalog, target) in made:
            continue
        made.add((owner, catalog, target))
        share = ev.CatalogShared(owner=owner, catalog=catalog, target=target)
        pending.append(
            asyncio.ensure_future(
                put(ev.make_event(ev.CATALOG_SHARED, owner, share, f"{owner}/{catalog}"))
            )
        )
        if len(pending) >= 500:
            await flush()
    await flush()
    published = time.perf_counter() - began
    await nc.close()
    service = platform.global_service
    assert service is not None
    await wait_applied(service, last_seq)
    return {
        "publish_s": round(published, 2),
        "catch_up_s": round(time.perf_counter() - began - published, 2),
        "events": accounts + shares,
        "last_seq": last_seq,
    }


def _url(platform: Platform) -> str:
    state = platform.dir.run_state()
    assert state is not None
    return state.local_url


async def wait_applied(service: GlobalService, seq: int, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while min(service.mirror.applied.values()) < seq:
        if time.monotonic() > deadline:
            raise TimeoutError(f"projections stuck at {service.mirror.applied}")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def natster_web(client: NatsterClient) -> AsyncIterator[tuple[str, Any]]:
    """`natster web` for ``client``'s home on a free port, until the block ends: its URL
    and an HTTP client (httpx) signed in to it."""
    import httpx

    url = f"http://127.0.0.1:{free_port()}"
    web = subprocess.Popen(
        [sys.executable, "-m", "natster", "web", "--port", url.rsplit(":", 1)[1]],
        env={**os.environ, "NATSTER_HOME": str(client.home.path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            for _ in range(100):
                try:
                    await http.get("/api/me")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            code = (await client.otc_generate()).code
            assert (await http.get(f"/login?code={code}")).status_code == 303
            yield url, http
    finally:
        web.terminate()
        web.wait(timeout=15)


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    samples = sorted(samples_ms)
    return {
        "count": len(samples),
        "p50_ms": round(statistics.median(samples), 3),
        "p99_ms": round(samples[max(0, int(len(samples) * 0.99) - 1)], 3),
        "max_ms": round(samples[-1], 3),
    }


async def echo_baseline(nc: Any, count: int) -> dict[str, float]:
    """The same-run baseline: raw request/reply to an echo responder on ``nc``."""

    async def echo(msg: Any) -> None:
        await msg.respond(b'{"code":200,"data":null}')

    sub = await nc.subscribe("bench.echo", cb=echo)
    samples = []
    for _ in range(count):
        began = time.perf_counter()
        await nc.request("bench.echo", b"{}", timeout=5)
        samples.append((time.perf_counter() - began) * 1000)
    await sub.unsubscribe()
    return percentiles(samples)


def big_sparse_catalog(home: Home, media: Path, size: int) -> None:
    """The catalog "big" of ``home``: one file, big.img, of ``size`` bytes, sparse (the
    disk is not what is measured)."""
    media.mkdir()
    with (media / "big.img").open("wb") as handle:
        handle.truncate(size)
    with Catalogs(home.path) as mine:
        mine.new("big", "", media)


def fill_catalog(catalogs: Catalogs, name: str, entries: int) -> None:
    """``entries`` made-up entries in 200 folders, straight into the index (no files)."""
    with catalogs.index.transaction():
        for first in range(0, entries, 10_000):
            catalogs.index.put(
                name,
                [
                    Entry(
                        f"folder{i // 1000:03}/file {i:07}.mkv",
                        i,
                        i,
                        f"{i:064x}",
                        "video/x-matroska",
                        "",
                    )
                    for i in range(first, min(entries, first + 10_000))
                ],
            )


@dataclass(frozen=True)
class SharedCatalog:
    homes: dict[str, Home]
    alice: NatsterClient
    bob: NatsterClient
    ref: remote.CatalogRef  # bob's view of alice's "big"


@contextlib.asynccontextmanager
async def big_catalog_shared(
    base: Path, platform: Platform, entries: int
) -> AsyncIterator[SharedCatalog]:
    """alice serves "big" (``entries`` made-up entries), shared with bob, who imported it."""
    homes = {name: Home(base / name) for name in ("alice", "bob")}
    for name, home in homes.items():
        await join((await mint_invite(platform.dir, 600)).encode(), home=home, name=name)
    (base / "media").mkdir()
    with Catalogs(homes["alice"].path) as mine:
        mine.new("big", "a big catalog", base / "media")
        fill_catalog(mine, "big", entries)
    async with (
        await NatsterClient.connect(homes["alice"]) as alice,
        await NatsterClient.connect(homes["bob"]) as bob,
    ):
        server = CatalogServer(alice, homes["alice"].path, ["big"])
        await server.start()
        try:
            await remote.share(alice, "big", bob.account)
            await remote.import_catalog(bob, "big", alice.account)
            yield SharedCatalog(homes, alice, bob, await remote.resolve(bob, "big"))
        finally:
            await server.stop()


async def write_serving_creds(home: Home, path: Path) -> Path:
    """Creds in ``home``'s serving account (where messages may be as large as a chunk:
    its own account sends small ones only), written to ``path``."""
    user = KeyPair.create(KeyKind.USER)
    async with await NatsterClient.connect(home) as client:
        grant = await serving_grant(client.connection, user.public_key)
    write_atomic(path, Creds(jwt=grant.jwt, seed=user.seed).format())
    return path
