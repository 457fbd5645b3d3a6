"""Fixtures: real nats-server hubs on free ports in temporary directories."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats.js.errors
import pytest
from bench._platform import free_port as free_port  # tests import it from here
from hypothesis import settings

from natster import _nats, subjects
from natster.catalog import Catalogs
from natster.client import Home, NatsterClient, join, remote
from natster.errors import NatsterError
from natster.hub import Hub, HubDir, HubInfo, mint_invite
from natster.hub.accounts import claims as hub_claims
from natster.hub.accounts.serving import serving_key
from natster.security import Creds, KeyKind, KeyPair, jwt
from natster.services.catalog_service import CatalogServer
from natster.services.global_service.projections import PROJECTIONS
from natster.services.platform import Platform

from . import warm_cli

# Speed is measured in bench/, never by a test: no example fails for being slow on a
# machine busy with the rest of the suite (Hypothesis's default deadline is 200 ms).
settings.register_profile("natster", deadline=None)
settings.load_profile("natster")

NATSTER = [sys.executable, "-m", "natster"]


def natster(
    *args: str,
    home: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """The natster command as people run it (``home``: its NATSTER_HOME; ``input``: stdin)."""
    full = {**os.environ, **(env or {})}
    if home is not None:
        full["NATSTER_HOME"] = str(home)
    return warm_cli.run(list(args), full, input if input is not None else "", timeout)


@dataclass
class RunningHub:
    hub: Hub
    info: HubInfo
    dir: HubDir
    platform: Platform

    async def invite(self, ttl: float = 3600) -> str:
        return (await mint_invite(self.dir, ttl)).encode()

    async def system_request(self, subject: str, body: object = None) -> dict[str, Any]:
        """Ask nats-server something through its system account (``server``, ``data``)."""
        sys_nc = await _nats.connect(
            self.info.local_url, self.dir.creds("sys"), trust=self.dir.trust(), name="test-sys"
        )
        try:
            payload = b"" if body is None else json.dumps(body).encode()
            reply = await sys_nc.request(subject, payload, timeout=5)
        finally:
            await sys_nc.close()
        answer: dict[str, Any] = json.loads(reply.data)
        if "error" in answer:
            raise AssertionError(f"nats-server refused {subject}: {answer['error']}")
        return answer

    async def account_info(self, account: str) -> dict[str, Any]:
        """nats-server's own view of an account."""
        info: dict[str, Any] = (await self.system_request(f"$SYS.REQ.ACCOUNT.{account}.INFO"))[
            "data"
        ]
        return info

    async def kick(self, client_id: int) -> None:
        """nats-server drops one client connection (which then reconnects on its own)."""
        server = (await self.system_request("$SYS.REQ.SERVER.PING.IDZ"))["id"]
        await self.system_request(f"$SYS.REQ.SERVER.{server}.KICK", {"cid": client_id})


TEARDOWN_S = 60.0  # stopping what a fixture started takes seconds; longer is a hang


async def stopped(what: str, step: Awaitable[None]) -> None:
    """Await a fixture's teardown ``step`` within TEARDOWN_S; a hang fails the test with
    every task's stack printed (instead of hanging the whole run)."""
    try:
        await asyncio.wait_for(step, TEARDOWN_S)
    except TimeoutError:
        for task in asyncio.all_tasks():
            print(f"--- {task.get_name()}: {task.get_coro()}", file=sys.stderr)
            task.print_stack(file=sys.stderr)
        raise AssertionError(f"stopping {what} hung for {TEARDOWN_S:g} s") from None


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    """A whole platform: nats-server, the account service and one global service."""
    platform = Platform(tmp_path / "hub", port=free_port())
    info = await platform.start()
    try:
        yield RunningHub(platform.hub, info, platform.dir, platform)
    finally:
        await stopped("the hub", platform.stop())


JoinUser = Callable[[str], Awaitable[Home]]


@pytest.fixture
def join_user(hub: RunningHub, tmp_path: Path) -> JoinUser:
    async def make(name: str) -> Home:
        home = Home(tmp_path / f"home-{name}")
        await join(await hub.invite(), home=home, name=name)
        return home

    return make


async def _connected(join_user: JoinUser, name: str) -> AsyncIterator[NatsterClient]:
    client = await NatsterClient.connect(await join_user(name))
    try:
        yield client
    finally:
        await stopped("a client", client.close())


@pytest.fixture
async def alice(join_user: JoinUser) -> AsyncIterator[NatsterClient]:
    """A new user, alice, connected (the users of a `world` are its own)."""
    async for client in _connected(join_user, "alice"):
        yield client


@pytest.fixture
async def bob(join_user: JoinUser) -> AsyncIterator[NatsterClient]:
    async for client in _connected(join_user, "bob"):
        yield client


# --- a sharing world: alice serves "films"; bob and carol are on the same hub ------------


@dataclass
class World:
    hub: RunningHub
    alice: NatsterClient
    bob: NatsterClient
    carol: NatsterClient
    server: CatalogServer
    media: Path


def key(client: NatsterClient) -> str:
    return client.account


def serving_of(hub: RunningHub, account: str) -> str:
    """The serving account of ``account``: where its catalog servers answer from."""
    return serving_key(hub.dir.seed("operator-signing"), account).public_key


def make_media(root: Path, count: int = 0) -> None:
    (root / "trips").mkdir(parents=True)
    (root / "trips" / "lake.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    (root / "trips" / "notes.txt").write_text("day one")
    (root / "music.mp3").write_bytes(b"ID3" + b"\x00" * 100)
    for i in range(count):
        (root / "many").mkdir(exist_ok=True)
        (root / "many" / f"f{i:05}.txt").write_text(str(i))


@pytest.fixture
async def world(hub: RunningHub, join_user: JoinUser, tmp_path: Path) -> AsyncIterator[World]:
    clients = [await NatsterClient.connect(await join_user(n)) for n in ("alice", "bob", "carol")]
    alice = clients[0]
    media = tmp_path / "media"
    make_media(media)
    with Catalogs(alice.home.path) as mine:
        mine.new("films", "Alice's films", media)
    server = CatalogServer(alice, alice.home.path, ["films"])
    await server.start()
    try:
        yield World(hub, clients[0], clients[1], clients[2], server, media)
    finally:
        await stopped("alice's catalog server", server.stop())
        for client in clients:
            await stopped("a client", client.close())


async def shared_and_imported(world: World) -> remote.CatalogRef:
    await remote.share(world.alice, "films", key(world.bob))
    await remote.import_catalog(world.bob, "films", key(world.alice))
    return await remote.resolve(world.bob, "films")


async def rogue_import(
    world: World, who: NatsterClient, catalog: str, also: list[jwt.Import] | None = None
) -> None:
    """A rogue hub gives ``who`` an import of alice's ``catalog`` that alice never shared
    (with ``who``'s own key in token 1, so NATS lets it through to alice's server)."""
    resolver = world.hub.hub.resolver
    assert resolver is not None
    claims = await resolver.lookup(key(who))
    assert claims is not None
    claims = hub_claims.with_catalog_import(
        claims, key(world.alice), catalog, catalog, exporter=serving_of(world.hub, key(world.alice))
    )
    claims.nats.imports.extend(also or [])
    token = jwt.encode(claims, world.hub.dir.seed("operator-signing"), iat=claims.iat + 5)
    sys_nc = await _nats.connect(
        world.hub.info.local_url, world.hub.dir.creds("sys"), trust=world.hub.dir.trust(), name="x"
    )
    try:
        await sys_nc.request(
            subjects.SYS_CLAIMS_UPDATE.format(account=key(who)), token.encode(), timeout=2
        )
    finally:
        await sys_nc.close()


async def add_device(owner: NatsterClient, home: Home, name: str = "phone") -> Home:
    """``device add NAME`` on ``owner``'s machine, its short code redeemed in ``home``."""
    from natster.client.devices import offer_device, redeem

    offer = await offer_device(owner, name)
    waiting = asyncio.create_task(offer.wait())
    await redeem(offer.short.encode(), home=home, host=name)
    await waiting
    return home


def signed_anew(account: KeyPair) -> Creds:
    """A new user ``account``'s key signs now: what one cut off could still make."""
    user = KeyPair.create(KeyKind.USER)
    return Creds(jwt.encode(jwt.user_claims(user.public_key), account), user.seed)


async def connects(hub: RunningHub, creds: Creds, url: str | None = None) -> bool:
    """Whether the hub (at ``url``, else its local address) lets ``creds`` in."""
    try:
        nc = await _nats.connect(url or hub.info.local_url, creds, trust=hub.dir.trust(), name="t")
    except NatsterError:
        return False
    await nc.close()
    return True


async def eventually(
    check: Callable[[], Awaitable[bool]], seconds: float = 5.0, what: str = "condition"
) -> None:
    """Until ``check()`` is true, within ``seconds`` (else fails saying ``what``)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {seconds:g} s: {what}")
        await asyncio.sleep(0.05)


def eventually_sync(
    check: Callable[[], bool], seconds: float = 5.0, what: str = "condition"
) -> None:
    """:func:`eventually` for a test that is not async (a CLI's or a browser's)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:g} s: {what}")
        time.sleep(0.05)


async def snapshot(nc: Any) -> dict[str, dict[str, Any]]:
    js = nc.jetstream()
    state: dict[str, dict[str, Any]] = {}
    for projection in PROJECTIONS:
        # Not kv.keys(): nats-py's watcher can report "no more keys" before the messages
        # already on their way are handed over, and an empty list came back now and then.
        # The stream's own list of subjects is exact.
        kv = await js.key_value(projection.bucket)
        prefix = f"$KV.{projection.bucket}."
        info = await js.stream_info(f"KV_{projection.bucket}", subjects_filter=prefix + ">")
        keys = [subject.removeprefix(prefix) for subject in info.state.subjects or {}]
        state[projection.name] = {}
        for k in keys:
            try:
                state[projection.name][k] = json.loads((await kv.get(k)).value)
            except nats.js.errors.KeyNotFoundError:  # a deleted key's marker
                continue
    return state
