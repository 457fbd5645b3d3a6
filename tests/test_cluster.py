"""A hub of three nodes on loopback ports: real nats-servers routed over mutual TLS,
JetStream replicated three ways, and a node killed with SIGKILL."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import itertools
import json
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import pytest
from bench._platform import big_sparse_catalog, local_cluster

from natster import _nats, limits, subjects, wire
from natster import events as ev
from natster._urls import split_urls
from natster.catalog import Catalogs
from natster.client import Home, NatsterClient, join, remote
from natster.client.download import download, find_entry
from natster.errors import (
    ConfigError,
    ConnectionFailed,
    InviteError,
    NatsterError,
    RemoteError,
    RequestTimeout,
    ServiceUnavailable,
)
from natster.hub import HubDir, mint_invite, mint_short_invite
from natster.hub import tls as hub_tls
from natster.hub.accounts.serving import serving_key
from natster.hub.cluster.node_join import join as join_node
from natster.hub.cluster.node_join import mint_node_token
from natster.hub.cluster.nodes import bundle, install
from natster.hub.entry.invites import Invite
from natster.hub.process.health import hub_health
from natster.security import XKey
from natster.services.catalog_service import CatalogServer
from natster.services.global_service.projections import PROJECTIONS
from natster.services.global_service.rebuild import rebuild
from natster.services.platform import Platform

from .conftest import NATSTER, eventually, free_port, key, make_media, snapshot

pytestmark = pytest.mark.cluster

T = TypeVar("T")
NODES = 3
# the node leading the event log is killed: writes go on within this. nats-server's raft
# elects a new leader 4-9 s after the last heartbeat (the global service asks the log
# again every LEADER_TRY_S meanwhile); a projection consumer whose group cannot elect
# one (a replica that never caught up) is made anew after PROJECTION_RIDE_OUT_S (10 s)
WRITES_BACK_S = 20
# ...and their effects (projections, imports) show within this: a projection consumer or
# a mirror's watch the dead node held resumes within a few seconds
CONVERGED_S = 15


def _client_of(me: wire.GlobalWhoami) -> str | None:
    """The client a login bound this account to (None: no login yet)."""
    return None if me.bound_login is None else me.bound_login.get("client")


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
    """Three nodes as an operator makes them (``bench._platform.local_cluster``)."""
    async with local_cluster(tmp_path, NODES) as nodes:
        yield Cluster(nodes, [n.dir.require_running().local_url for n in nodes])


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


async def _user(
    cluster: Cluster, tmp_path: Path, name: str, *, short: bool = False
) -> NatsterClient:
    home = Home(tmp_path / name)
    if short:  # one node's address in the invite; the others learned once in
        words = await mint_short_invite(cluster.nodes[0].dir, 600)
        assert words.url == cluster.urls[0]
        await join(words.encode(), home=home, name=name)
    else:
        invite = await mint_invite(cluster.nodes[0].dir, 600)
        assert sorted(split_urls(invite.url)) == sorted(cluster.urls)  # every node, by gossip
        await join(invite.encode(), home=home, name=name)
    assert sorted(split_urls(home.load().url)) == sorted(cluster.urls)
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
    alice = await _user(cluster, tmp_path, "alice")
    bob = await _user(cluster, tmp_path, "bob", short=True)
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


async def _retried(
    call: Callable[[], Awaitable[object]],
    until: float,
    tries: list[str],
    *,
    done_if: str | None = None,
) -> None:
    """``call`` until it works, each failure noted in ``tries``; none after ``until``.
    ``done_if``: a refusal that, after a failed try, says that try was kept (a write that
    landed as its answer ran out of time: the protocol's "asking again is safe")."""
    failed = False
    while True:
        try:
            await call()
        except NatsterError as exc:
            if failed and done_if is not None and done_if in str(exc):
                return
            failed = True
            tries.append(f"{until - time.monotonic():.1f}s left: {exc}")
            assert time.monotonic() < until, tries
            await asyncio.sleep(0.25)
        else:
            return


CATCH_UP_S = 20.0  # a node back after an outage replays what it missed, then answers


async def _view_settles(
    reader: NatsterClient, check: Callable[[set[str]], bool], seconds: float = 5.0
) -> None:
    """Until ``check`` holds for the catalogs shared with ``reader``, within ``seconds``:
    the hub promises its writer read-your-writes (the instance that answered shows the
    event); another reader may be answered by an instance that applies it a moment later
    (longer on a node just back, which replays what it missed first)."""

    async def settled() -> bool:
        return check({s.catalog for s in await reader.my_shares()})

    await eventually(settled, seconds, "the reader's view shows the write")


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
            lambda: alice.record_unshare("films", key(bob)),
            time.monotonic() + WRITES_BACK_S,
            tries,
            done_if="is not shared with that account",
        )
        # the recipient's import goes once the projections caught up (a batch the
        # killed node's projector held comes back after the consumer's ack wait)
        converged = time.monotonic() + CONVERGED_S
        revoke = wire.ImportRevokeRequest(catalog="films", target=key(bob))
        subject = subjects.accounts_local("imports.revoke")
        await _retried(
            lambda: alice.request(subject, revoke.model_dump_json().encode()), converged, tries
        )
        await _retried(lambda: remote.share(alice, "films", key(bob)), converged, tries)
        await _retried(lambda: remote.import_catalog(bob, "films", key(alice)), converged, tries)
        notes = tmp_path / "notes.txt"  # (a 503 "try again" while the cluster settles)
        await _retried(lambda: _fetch(bob, "trips/notes.txt", notes), converged, tries)
        assert notes.read_bytes() == b"day one"
    alive = cluster.nodes[(killed + 1) % NODES]
    health = await hub_health(alive.dir)
    assert {n["name"]: n["up"] for n in health["nodes"]}[f"n{killed + 1}"] is False
    await _restart_and_catch_up(cluster, killed)


async def _restart_and_catch_up(cluster: Cluster, killed: int) -> None:
    """The killed node comes back: it catches up, and its status says so."""
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


SHARE_OPS = 1000
INVITES = 4
BUSY_S = 120  # every operation is done (or definitely refused) within this


@pytest.fixture
async def busy_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Cluster]:
    """A cluster whose global services take a thousand changes a minute from one account."""
    monkeypatch.setattr(limits, "EVENTS_RATE", limits.Rate(per_minute=100_000, burst=100_000))
    async with local_cluster(tmp_path, NODES) as nodes:
        yield Cluster(nodes, [n.dir.require_running().local_url for n in nodes])


async def _definitely(
    call: Callable[[], Awaitable[T]],
    retries: list[str],
    *,
    done_if: str | None = None,
    asked: bool = False,
) -> T | None:
    """``call()`` until the hub answers it for sure: asked again while it cannot answer
    (503, 504, a lost connection), each such answer noted in ``retries``. ``done_if``: a
    refusal that, once the call was asked before (``asked``: by the caller already),
    means an earlier try was applied and its answer lost (returns None)."""
    until = time.monotonic() + BUSY_S
    while True:
        try:
            return await call()
        except RemoteError as exc:
            if asked and done_if is not None and done_if in str(exc):
                return None
            if exc.status not in (503, 504):
                raise
            retries.append(str(exc))
        except (ServiceUnavailable, RequestTimeout, ConnectionFailed) as exc:
            retries.append(str(exc))
        asked = True
        assert time.monotonic() < until, retries[-5:]
        await asyncio.sleep(0.2)


async def test_a_node_killed_mid_work_loses_nothing_and_does_nothing_twice(
    busy_cluster: Cluster, tmp_path: Path
) -> None:
    """kill -9 the event log's leader while a thousand shares and unshares are written,
    invites are redeemed (two people race for each) and a login code is claimed: every
    acknowledged change is in the log, each invite made exactly one account, the code
    was claimed once, and the projections equal a replay of the log."""
    cluster = busy_cluster
    alice = await _user(cluster, tmp_path, "alice")
    bob = await _user(cluster, tmp_path, "bob", short=True)
    code = (await alice.otc_generate()).code
    invites = [await mint_invite(cluster.nodes[0].dir, 600) for _ in range(INVITES)]
    nc = await _nats.connect(
        cluster.url,
        cluster.nodes[0].dir.creds("global"),
        name="t",
        trust=cluster.trust(),
        reconnect=True,
    )
    sys_nc = await _nats.connect(
        cluster.url, cluster.nodes[0].dir.creds("sys"), name="t", trust=cluster.trust()
    )

    async def accounts() -> set[str]:
        """Every account JWT the nodes' resolvers hold: every node answers, each from its
        own copy (one that has not heard of the newest account yet would hide it)."""
        inbox = sys_nc.new_inbox()
        sub = await sys_nc.subscribe(inbox)
        try:
            await sys_nc.publish("$SYS.REQ.CLAIMS.LIST", b"", reply=inbox)
            held: set[str] = set()
            with contextlib.suppress(TimeoutError):  # nats-py's is one too: no more answers
                while True:
                    held |= set(json.loads((await sub.next_msg(timeout=1)).data)["data"])
            return held
        finally:
            await sub.unsubscribe()

    before = await accounts() | {alice.account, bob.account}  # made just now: not the racers'
    retries: list[str] = []
    acknowledged: dict[int, tuple[str, str]] = {}  # seq -> (event type, catalog)
    warmed = asyncio.Event()

    async def changes() -> None:
        for i in range(SHARE_OPS):
            catalog = f"c{(i // 2) % 10}"
            if i % 2 == 0:
                kind, done_if, call = ev.CATALOG_SHARED, None, alice.record_share
            else:
                kind, done_if, call = ev.CATALOG_UNSHARED, "not shared", alice.record_unshare
            change = functools.partial(call, catalog, key(bob))
            reply = await _definitely(change, retries, done_if=done_if)
            if reply is not None and reply.seq is not None:
                acknowledged[reply.seq] = (kind, catalog)
            if i == SHARE_OPS // 5:
                warmed.set()

    async def redeem(invite: Invite, who: str) -> str | None:
        home = Home(tmp_path / who)
        try:
            await _definitely(
                lambda: join(invite.encode(), home=home, name=who, url=cluster.url), retries
            )
        except InviteError:
            return None  # the other one won
        return home.load().account

    async def claim() -> None:
        await _definitely(
            lambda: alice.otc_claim(code, client="phone"), retries, done_if="already used"
        )

    writing = asyncio.create_task(changes())
    await asyncio.wait_for(warmed.wait(), BUSY_S)
    killed = await _leader(cluster)
    os.kill(cluster.server_pid(killed), signal.SIGKILL)
    racing = [redeem(invite, f"p{i}{side}") for i, invite in enumerate(invites) for side in "ab"]
    joined, *_ = await asyncio.gather(asyncio.gather(*racing), writing, claim())
    try:
        # every acknowledged change is in the log, as it was acknowledged
        js = nc.jetstream()
        for seq, (kind, catalog) in acknowledged.items():
            stored = ev.parse_event((await js.get_msg(ev.STREAM, seq)).data or b"")
            assert (stored.type, stored.data["catalog"]) == (kind, catalog), seq
        assert len(acknowledged) >= SHARE_OPS - len(retries)
        await _view_settles(bob, lambda seen: not any(c.startswith("c") for c in seen))
        # each invite made exactly one account; each winner's is among them
        held = await accounts()
        signing = cluster.nodes[0].dir.seed("operator-signing")
        serving = {serving_key(signing, account).public_key for account in held}
        made = held - serving - before  # each user account comes with a serving account
        assert len(made) == INVITES, (made, joined, retries[-5:])
        winners = [account for account in joined if account is not None]
        assert set(winners) <= made
        assert len(winners) <= INVITES
        assert _client_of(await alice.global_whoami()) == "phone"
        with pytest.raises(RemoteError, match="already used"):
            await alice.otc_claim(code)
        await _restart_and_catch_up(cluster, killed)
        live = await snapshot(nc)  # the projections, as replaying the log makes them
        await rebuild(nc)
        assert await snapshot(nc) == live
    finally:
        await nc.close()
        await sys_nc.close()
        await alice.close()
        await bob.close()


async def test_two_nodes_of_three_down_refuse_writes_and_serve_reads(
    cluster: Cluster, tmp_path: Path
) -> None:
    """No split brain: with one node of three left nothing is written, and the writer
    hears why; what that node can serve (shares, a download) it serves. One node back
    restores writes."""
    async with _alice_shares_with_bob(cluster, tmp_path) as (alice, bob, media):
        down = [1, 2]
        for index in down:
            os.kill(cluster.server_pid(index), signal.SIGKILL)
        started = time.monotonic()
        errors: list[str] = []
        # each try ends within a client's timeout; once the writer's connection moved to
        # the last node (its own may have died), the hub itself says to try again
        while time.monotonic() - started < 30 and not all(
            "try again" in e for e in errors[-2:] or ["not yet"]
        ):
            began = time.monotonic()
            with pytest.raises(NatsterError) as refused:
                await alice.record_unshare("films", key(bob))
            errors.append(str(refused.value))
            assert time.monotonic() - began < limits.REQUEST_TIMEOUT_S + 1, errors
        assert all("try again" in e for e in errors[-2:]), errors
        # reads the last node can serve, it serves
        assert any(s.catalog == "films" for s in await bob.my_shares())
        got = await _fetch(bob, "trips/notes.txt", tmp_path / "notes.txt")
        assert got == (media / "trips/notes.txt").read_bytes()
        # one node back: a majority again, writes go on
        await cluster.nodes[down[0]].stop()
        await asyncio.wait_for(cluster.nodes[down[0]].start(), 60)
        # (an unshare that timed out above may have been kept: raft commits what the last
        # node had proposed once a majority is back; its caller was told to try again)
        retries: list[str] = []
        await _definitely(
            functools.partial(alice.record_unshare, "films", key(bob)),
            retries,
            done_if="not shared",
            asked=True,
        )
        await _view_settles(bob, lambda seen: "films" not in seen, seconds=CATCH_UP_S)
        # a new write: while the node just back catches up, the hub may say "try again"
        shared = await _definitely(functools.partial(alice.record_share, "films", key(bob)), [])
        assert shared is not None
        assert shared.seq is not None
        await _view_settles(bob, lambda seen: "films" in seen, seconds=CATCH_UP_S)


STALL_LIMIT_S = 5.0
FILE = 256 * 1024**2  # a quarter of it arrives before the kill


@pytest.mark.parametrize("dies", ["bob", "alice"])
async def test_a_download_goes_on_when_a_node_under_it_dies(
    cluster: Cluster, tmp_path: Path, dies: str
) -> None:
    """alice's catalog server on node 1, bob on node 2: the node of one of them is killed
    while bob downloads 256 MiB; the connection moves to another node (gossip) and the same
    call completes, every chunk authenticated and the whole file checked against its
    sha256. Chunks asked on a dead connection are asked again at once (bob's: when he is
    back; alice's: when the transfer went quiet), not after a chunk's timeout: the
    download stalls less than STALL_LIMIT_S."""
    homes = {}
    nodes = {"alice": 0, "bob": 1}
    for name, node in nodes.items():
        homes[name] = Home(tmp_path / name)
        invite = await mint_invite(cluster.nodes[0].dir, 600)
        await join(invite.encode(), home=homes[name], name=name, url=cluster.urls[node])
    big_sparse_catalog(homes["alice"], tmp_path / "media", FILE)  # checked like any file
    alice = await NatsterClient.connect(homes["alice"], reconnect=True)
    bob = await NatsterClient.connect(homes["bob"], reconnect=True)
    server = CatalogServer(alice, alice.home.path, ["big"])
    await server.start()
    try:
        await remote.share(alice, "big", key(bob))
        await remote.import_catalog(bob, "big", key(alice))
        ref = await remote.resolve(bob, "big")
        entry = await find_entry(bob, ref, "big.img")
        out = tmp_path / "got" / "big.img"
        out.parent.mkdir()
        heard: list[float] = []  # when each piece of the file arrived

        def progress(done: int, total: int) -> None:
            heard.append(time.monotonic())

        downloading = asyncio.create_task(download(bob, ref, entry, out, progress=progress))
        deadline = time.monotonic() + 60
        while sum(p.stat().st_size for p in out.parent.iterdir()) < FILE // 4:
            assert not downloading.done(), downloading
            assert time.monotonic() < deadline, "the download did not start"
            await asyncio.sleep(0.05)
        killed = time.monotonic()
        os.kill(cluster.server_pid(nodes[dies]), signal.SIGKILL)
        await asyncio.wait_for(downloading, 180)
        assert out.stat().st_size == FILE
        after = [killed, *(t for t in heard if t > killed)]
        stall = max(later - earlier for earlier, later in itertools.pairwise(after))
        assert stall < STALL_LIMIT_S, f"the download stalled {stall:.1f} s"
        moved = {"alice": alice, "bob": bob}[dies].connection.connected_url
        assert moved is not None
        assert moved.port != urlsplit(cluster.urls[nodes[dies]]).port
    finally:
        await server.stop()
        await alice.close()
        await bob.close()


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
        # words made on one node, redeemed at the new one's doorstep (keys it derived)
        words = await mint_short_invite(cluster.nodes[0].dir, 600)
        await join(words.encode(), home=home, name="dave", url=info.local_url)
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


async def test_a_single_node_hub_grows_into_a_cluster_with_its_data(tmp_path: Path) -> None:
    """A hub of one node with users, shares and a login code becomes the first of three
    nodes: nothing is lost (the log, its sequences, the projections, accounts, codes),
    a first try cut short while it waits for a second node resumes, and the streams end
    with three replicas."""
    founder = tmp_path / "n1"
    single = Platform(founder, port=free_port())
    info = await single.start()
    homes = {name: Home(tmp_path / name) for name in ("alice", "bob")}
    for name, home in homes.items():
        invite = await mint_invite(single.dir, 600)
        await join(invite.encode(), home=home, name=name, url=info.local_url)
    alice, bob = [await NatsterClient.connect(h) for h in homes.values()]
    try:
        with Catalogs(alice.home.path) as mine:
            make_media(tmp_path / "media")
            mine.new("films", "", tmp_path / "media")
        await remote.share(alice, "films", key(bob))
        code = (await bob.otc_generate()).code
        trust = single.dir.trust()
        nc = await _nats.connect(info.local_url, single.dir.creds("global"), name="t", trust=trust)
        before = await snapshot(nc)
        last_seq = (await nc.jetstream().stream_info(ev.STREAM)).state.last_seq
        await nc.close()
    finally:
        await alice.close()
        await bob.close()
        await single.stop()

    first = Platform(founder, cluster_port=free_port(), node="n1")
    starting = asyncio.create_task(first.start())  # waits for a second node: cut short

    async def waiting_for_peers() -> bool:
        assert not starting.done(), starting.result()
        return single.dir.run_state() is not None

    await eventually(waiting_for_peers, 60, "the founder runs, waiting for its peers")
    starting.cancel()
    await asyncio.wait_for(asyncio.gather(starting, return_exceptions=True), 30)
    await first.stop()
    assert set(single.dir.load().moving_in) >= {
        f"global/{ev.STREAM}",
        "accounts/KV_natster_invites",
    }
    assert (founder / "migrate" / "manifest.json").is_file()

    async with local_cluster(tmp_path, NODES, founder=founder) as nodes:
        assert all(not n.dir.load().moving_in for n in nodes)
        assert not (founder / "migrate").exists()
        kept = list((founder / "backups").glob("single-node-*/manifest.json"))
        assert len(kept) == 1
        urls = ",".join(n.dir.require_running().local_url for n in nodes)
        trust = nodes[0].dir.trust()
        nc = await _nats.connect(urls, nodes[0].dir.creds("global"), name="t", trust=trust)
        try:
            info_after = await nc.jetstream().stream_info(ev.STREAM)
            assert info_after.state.last_seq == last_seq  # the same log, the same sequences
            assert await snapshot(nc) == before
            await _until_replicated(nc, NODES)
            # each projection reads on from its restored mark, through one consumer
            deadline = time.monotonic() + CONVERGED_S
            while len(names := await _consumers(nc)) != len(PROJECTIONS):
                assert time.monotonic() < deadline, names
                await asyncio.sleep(0.25)
        finally:
            await nc.close()
        alice, bob = [await NatsterClient.connect(h) for h in homes.values()]  # old contexts
        try:
            assert "films" in [s.catalog for s in await bob.my_shares()]
            await bob.otc_claim(code, client="phone")  # a login code made before: still good
            assert _client_of(await bob.global_whoami()) == "phone"
            dave = Home(tmp_path / "dave")  # invites go on, from any node
            await join((await mint_invite(nodes[2].dir, 600)).encode(), home=dave, name="dave")
        finally:
            await alice.close()
            await bob.close()


async def _consumers(nc: _nats.Client) -> list[str]:
    return [c.name for c in await nc.jetstream().consumers_info(ev.STREAM)]


async def _until_replicated(nc: _nats.Client, replicas: int) -> None:
    """Every stream of the account ``nc`` is in keeps ``replicas`` copies, soon."""
    js = nc.jetstream()
    deadline = time.monotonic() + CONVERGED_S
    while True:
        infos = await js.streams_info()
        counts = {i.config.name: i.config.num_replicas for i in infos}
        if all(n == replicas for n in counts.values()):
            return
        assert time.monotonic() < deadline, counts
        await asyncio.sleep(0.5)


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


def test_the_first_node_says_at_once_what_it_waits_for_and_what_to_run(tmp_path: Path) -> None:
    hub_dir = tmp_path / "first"
    command = [
        *NATSTER, "hub", "up", "--dir", str(hub_dir),
        "--port", str(free_port()), "--cluster-port", str(free_port()),
    ]  # fmt: skip
    began = time.monotonic()
    first = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    said: list[str] = []
    try:
        assert first.stderr is not None
        for line in first.stderr:
            said.append(line)
            if "waiting for the cluster" in line:
                break
        assert time.monotonic() - began < 15, said
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=30)
    words = said[-1]
    assert "waiting for the cluster" in words, said
    assert f"natster hub node invite --dir {hub_dir.resolve()}" in words
    assert "natster hub up --join TOKEN" in words
    assert not any("Error" in line or "timeout" in line.lower() for line in said), said
