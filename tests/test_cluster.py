"""A hub of three nodes on loopback ports: real nats-servers routed over mutual TLS,
JetStream replicated three ways, and a node killed with SIGKILL."""

from __future__ import annotations

import asyncio
import base64
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
from natster.errors import ConfigError, InviteError, NatsterError, RemoteError
from natster.hub import HubDir, HubInfo, mint_invite
from natster.hub import tls as hub_tls
from natster.hub.health import hub_health
from natster.hub.node_join import join as join_node
from natster.hub.node_join import mint_node_token
from natster.hub.nodes import bundle, install
from natster.security import XKey
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
    """Three nodes as an operator makes them: the first founds the cluster (its JetStream
    waits for peers), the others join it with node tokens it minted."""
    nodes: list[Platform] = []
    starting: list[asyncio.Task[HubInfo]] = []
    try:
        for i in range(NODES):
            path = tmp_path / f"n{i + 1}"
            port, cluster_port = free_port(), free_port()
            if i:
                text = mint_node_token(nodes[0].dir, 600).encode()
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
                platform = Platform(path, port=port, cluster_port=cluster_port, node="n1")
            nodes.append(platform)
            starting.append(asyncio.create_task(platform.start()))
            if not i:  # the founder can invite once its server runs
                await _eventually(lambda: nodes[0].dir.run_state() is not None, 30)
        infos = await asyncio.wait_for(asyncio.gather(*starting), 60)
        yield Cluster(nodes, [info.local_url for info in infos])
    finally:
        for task in starting:
            task.cancel()
        await asyncio.gather(*starting, return_exceptions=True)
        await asyncio.gather(*(n.stop() for n in nodes), return_exceptions=True)


async def _eventually(check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.05)


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
    health = await hub_health(cluster.nodes[1].dir)  # what `hub status --json` prints
    assert [(n["name"], n["up"]) for n in health["nodes"]] == [
        ("n1", True),
        ("n2", True),
        ("n3", True),
    ]
    assert health["meta_leader"] in {"n1", "n2", "n3"}
    events = next(s for s in health["streams"] if s["name"] == ev.STREAM)
    assert events["replicas"] == NODES
    assert events["leader"] in {"n1", "n2", "n3"}
    assert events["messages"] > 0
    assert {s["name"] for s in health["streams"]} >= {
        "KV_natster_invites",
        "KV_natster_view_shares",
    }


async def test_three_nodes_replicate_and_survive_a_killed_node(
    cluster: Cluster, tmp_path: Path
) -> None:
    async with _alice_shares_with_bob(cluster, tmp_path) as (alice, bob, _media):
        killed = await _leader(cluster)
        os.kill(cluster.server_pid(killed), signal.SIGKILL)
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
    alive = cluster.nodes[(killed + 1) % NODES]
    health = await hub_health(alive.dir)
    assert {n["name"]: n["up"] for n in health["nodes"]}[f"n{killed + 1}"] is False
    # the node comes back: it catches up, and its status says so
    await cluster.nodes[killed].stop()
    await asyncio.wait_for(cluster.nodes[killed].start(), 60)

    async def caught_up() -> bool:
        health = await hub_health(cluster.nodes[killed].dir)
        events = next(s for s in health["streams"] if s["name"] == ev.STREAM)
        return all(n["up"] for n in health["nodes"]) and events["current"]

    deadline = time.monotonic() + CONVERGED_S
    while not await caught_up():
        assert time.monotonic() < deadline, await hub_health(cluster.nodes[killed].dir)
        await asyncio.sleep(0.5)


async def test_a_fresh_node_joins_a_running_cluster_and_serves_users(
    cluster: Cluster, tmp_path: Path
) -> None:
    started = time.monotonic()
    text = mint_node_token(cluster.nodes[1].dir, 600).encode()  # any node can invite
    port = free_port()
    await join_node(
        tmp_path / "n4", text, node="n4", host="127.0.0.1", port=port, cluster_port=free_port()
    )
    fourth = Platform(tmp_path / "n4")
    try:
        info = await asyncio.wait_for(fourth.start(), 30)
        home = Home(tmp_path / "dave")
        invite = await mint_invite(cluster.nodes[0].dir, 600)
        await join(invite.encode(), home=home, name="dave", url=info.local_url)
        dave = await NatsterClient.connect(home)
        try:
            assert (await dave.global_whoami()).name == "dave"
        finally:
            await dave.close()
        assert time.monotonic() - started < 10  # the bound for a fresh node
        inviter = cluster.nodes[1].dir.load().routes  # the inviting node knows the new route
        assert any(r.endswith(f":{fourth.dir.load().cluster_port}") for r in inviter)
    finally:
        await fourth.stop()


async def test_a_node_token_is_single_use_and_opens_nothing_else(
    cluster: Cluster, tmp_path: Path
) -> None:
    token = mint_node_token(cluster.nodes[0].dir, 600)
    subject = subjects.NODE_JOIN.format(node=token.node)
    trust = cluster.trust()
    nc = await _nats.connect(
        token.url,
        token.creds,
        name="attacker",
        trust=trust,
        inbox_prefix=f"_INBOX_{token.creds.public_key}",
    )
    try:
        # the attack: the token's user asks JetStream, or another node's join, directly
        for forbidden in ("$JS.API.INFO", "natster.signup", subjects.NODE_JOIN.format(node="n2")):
            with pytest.raises(NatsterError):
                await _nats.request(nc, forbidden, b"{}", timeout=1)
        xkey = XKey.create().public_key
        body = wire.NodeJoinRequest(
            token=token.token, node="n9", route="nats-route://127.0.0.1:1", xkey=xkey
        )
        clash = body.model_copy(update={"node": "n1"})
        with pytest.raises(RemoteError, match="already has a node named"):
            await _nats.request(nc, subject, clash.model_dump_json().encode())
        sealed = wire.NodeJoinReply.model_validate(
            await _nats.request(nc, subject, body.model_dump_json().encode())
        )
        assert b"operator-signing" not in base64.urlsafe_b64decode(sealed.sealed)  # sealed
        with pytest.raises(RemoteError, match="unknown, used or expired"):
            await _nats.request(nc, subject, body.model_dump_json().encode())
        for hostile in (b"", b"{", b'{"token": 1}', body.model_dump_json().encode() + b" "):
            with pytest.raises(RemoteError):
                await _nats.request(nc, subject, hostile)
    finally:
        await nc.close()
    # a user's invite token is not a node token
    invite = await mint_invite(cluster.nodes[0].dir, 600)
    with pytest.raises(InviteError):
        await join_node(
            tmp_path / "x", invite.encode(), node="x", host="127.0.0.1", port=1, cluster_port=2
        )
    assert not (tmp_path / "x").exists()
