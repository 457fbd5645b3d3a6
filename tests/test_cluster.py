"""A hub of three nodes on loopback ports: real nats-servers routed over mutual TLS,
JetStream replicated three ways, and a node killed with SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from natster import _nats, subjects, wire
from natster import events as ev
from natster.catalog import Catalogs
from natster.client import Home, NatsterClient, join, remote
from natster.client.download import download, find_entry
from natster.errors import ConfigError, NatsterError
from natster.hub import HubDir, mint_invite
from natster.hub import tls as hub_tls
from natster.hub.nodes import bundle, install
from natster.services.catalog_service import CatalogServer
from natster.services.platform import Platform

from .conftest import free_port, key, make_media

NODES = 3
# the node leading the event log is killed: writes go on within this. nats-server's raft
# elects a new leader 4-9 s after the last heartbeat; one request may wait out its 5 s.
WRITES_BACK_S = 15
# ...and their effects (projections, imports) show within this: a projection consumer or
# a mirror's watch the dead node held resumes within a few seconds
CONVERGED_S = 15


@dataclass
class Cluster:
    nodes: list[Platform]
    urls: list[str]

    @property
    def url(self) -> str:
        """What a cluster's invite carries: every node's URL."""
        return ",".join(self.urls)

    def server_pid(self, index: int) -> int:
        return self.nodes[index].dir.require_running().server_pid

    def trust(self) -> _nats.Trust | None:
        return self.nodes[0].dir.trust()


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    """Three nodes made as a joining node is: the first node's shared files, installed."""
    ports = [(free_port(), free_port()) for _ in range(NODES)]
    routes = [f"nats-route://127.0.0.1:{cluster_port}" for _, cluster_port in ports]
    first = HubDir(tmp_path / "n1")
    config = first.create("127.0.0.1", ports[0][0])
    hub_tls.make_ca(first.tls_dir)
    update = {"node": "n1", "cluster_port": ports[0][1], "routes": routes}
    first.save(config.model_copy(update=update))
    shared = bundle(first, routes)
    for i in range(1, NODES):
        install(
            tmp_path / f"n{i + 1}",
            shared,
            node=f"n{i + 1}",
            host="127.0.0.1",
            port=ports[i][0],
            cluster_port=ports[i][1],
            route=routes[i],
        )
    nodes = [Platform(tmp_path / f"n{i + 1}") for i in range(NODES)]
    try:  # together: JetStream answers once most nodes are up
        infos = await asyncio.wait_for(asyncio.gather(*(n.start() for n in nodes)), 60)
        yield Cluster(nodes, [info.local_url for info in infos])
    finally:
        await asyncio.gather(*(n.stop() for n in nodes), return_exceptions=True)


def test_a_node_takes_only_the_hubs_shared_files(tmp_path: Path) -> None:
    hub = HubDir(tmp_path / "n1")
    hub.create("127.0.0.1", free_port())
    hub_tls.make_ca(hub.tls_dir)
    shared = bundle(hub, [])
    assert set(shared.files) >= {"operator.jwt", "keys/operator-signing.nk", "tls/ca.key"}
    assert not any(name.startswith(("tls/server", "jetstream", "jwt/")) for name in shared.files)
    node = install(
        tmp_path / "n2", shared, node="n2", host="127.0.0.1", port=1, cluster_port=2, route="r"
    )
    assert node.load().node == "n2"
    assert node.load().routes == ["r"]
    assert (node.keys / "operator-signing.nk").stat().st_mode & 0o777 == 0o600
    hostile = shared.model_copy(update={"files": {"keys/x.nk": "y", "../escape.nk": "x"}})
    with pytest.raises(ConfigError, match="unexpected file"):
        install(tmp_path / "n3", hostile, node="n3", host="h", port=1, cluster_port=2, route="r")
    assert not (tmp_path / "escape.nk").exists()
    assert not HubDir(tmp_path / "n3").exists()  # no hub.json: never started half-made


async def _user(cluster: Cluster, tmp_path: Path, name: str) -> NatsterClient:
    home = Home(tmp_path / name)
    invite = await mint_invite(cluster.nodes[0].dir, 600)
    await join(invite.encode(), home=home, name=name, url=cluster.url)
    return await NatsterClient.connect(home, reconnect=True)


async def _leader(cluster: Cluster) -> int:
    nc = await _nats.connect(
        cluster.url, cluster.nodes[0].dir.creds("global"), name="t", trust=cluster.trust()
    )
    try:
        info = await nc.jetstream().stream_info(ev.STREAM)
    finally:
        await nc.close()
    assert info.config.num_replicas == NODES
    assert info.cluster is not None
    assert info.cluster.leader
    return int(str(info.cluster.leader).removeprefix("n")) - 1


@contextlib.asynccontextmanager
async def _alice_shares_with_bob(
    cluster: Cluster, tmp_path: Path
) -> AsyncIterator[tuple[NatsterClient, NatsterClient, Path]]:
    """alice serves "films" and has shared it with bob, who imported it."""
    alice, bob = await _user(cluster, tmp_path, "alice"), await _user(cluster, tmp_path, "bob")
    media = tmp_path / "media"
    make_media(media)
    with Catalogs(alice.home.path) as mine:
        mine.new("films", "", media)
    server = CatalogServer(alice, alice.home.path, ["films"])
    await server.start()
    try:
        await remote.share(alice, "films", key(bob))
        await remote.import_catalog(bob, "films", key(alice))
        yield alice, bob, media
    finally:
        await server.stop()
        await alice.close()
        await bob.close()


async def _fetch(bob: NatsterClient, path: str, out: Path) -> bytes:
    ref = await remote.resolve(bob, "films")
    await download(bob, ref, await find_entry(bob, ref, path), out)
    return out.read_bytes()


async def _retried(call: Callable[[], Awaitable[object]], until: float, tries: list[str]) -> None:
    """``call`` until it works, each failure noted in ``tries``; none after ``until``."""
    while True:
        try:
            await call()
        except NatsterError as exc:
            tries.append(f"{until - time.monotonic():.1f}s left: {exc}")
            assert time.monotonic() < until, tries
            await asyncio.sleep(0.25)
        else:
            return


async def test_three_nodes_serve_users_from_replicated_state(
    cluster: Cluster, tmp_path: Path
) -> None:
    await _leader(cluster)  # the event log: three replicas, a leader
    nc = await _nats.connect(
        cluster.urls[2], cluster.nodes[2].dir.creds("accounts"), name="t", trust=cluster.trust()
    )
    try:
        for bucket in (subjects.INVITES_BUCKET, subjects.ACCOUNTS_BUCKET):
            info = await nc.jetstream().stream_info(f"KV_{bucket}")
            assert info.config.num_replicas == NODES
    finally:
        await nc.close()
    async with _alice_shares_with_bob(cluster, tmp_path) as (_alice, bob, media):
        got = await _fetch(bob, "trips/lake.mp4", tmp_path / "lake.mp4")
        assert got == (media / "trips/lake.mp4").read_bytes()


@pytest.mark.skipif(
    False,
    reason="known bug (issue 15, open): after a node is killed, a projection consumer "
    "can stall for over a minute, so shares stop showing; writes themselves resume in "
    "~5-8 s",
)
async def test_three_nodes_replicate_and_survive_a_killed_node(
    cluster: Cluster, tmp_path: Path
) -> None:
    async with _alice_shares_with_bob(cluster, tmp_path) as (alice, bob, _media):
        os.kill(cluster.server_pid(await _leader(cluster)), signal.SIGKILL)
        tries: list[str] = []
        # the event log takes writes again within a few seconds
        await _retried(
            lambda: alice.unshare("films", key(bob)), time.monotonic() + WRITES_BACK_S, tries
        )
        # the recipient's import goes once the projections caught up (a batch the
        # killed node's projector held comes back after the consumer's ack wait)
        converged = time.monotonic() + CONVERGED_S
        revoke = wire.ImportRevokeRequest(catalog="films", target=key(bob))
        subject = subjects.accounts_local("imports.revoke")
        await _retried(
            lambda: alice.request(subject, revoke.model_dump_json().encode()), converged, tries
        )
        await remote.share(alice, "films", key(bob))
        await _retried(lambda: remote.import_catalog(bob, "films", key(alice)), converged, tries)
        assert await _fetch(bob, "trips/notes.txt", tmp_path / "notes.txt") == b"day one"
