"""Sharing end to end: a hub, alice, bob and carol, and alice's catalog server."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from natster import _nats, endpoints, limits, subjects
from natster.catalog import Catalogs
from natster.client import Home, NatsterClient, remote
from natster.errors import (
    CatalogError,
    CatalogNotFound,
    CatalogOffline,
    InvalidKey,
    NotShared,
    RemoteError,
    ServiceUnavailable,
)
from natster.security import jwt
from natster.services.catalog_service import CatalogServer

from .conftest import (
    JoinUser,
    World,
    eventually,
    key,
    make_media,
    rogue_import,
    serving_of,
    shared_and_imported,
)


async def listing(
    client: NatsterClient, ref: remote.CatalogRef, prefix: str = "", search: str = ""
) -> list[str]:
    pages = remote.pages(client, ref, prefix=prefix, search=search)
    return [e.path async for page in pages for e in page.entries]


async def test_share_inbox_import_ls_contents_search(world: World) -> None:
    alice, bob = world.alice, world.bob
    await remote.share(alice, "films", key(bob))
    waiting = await remote.inbox(bob)
    films = [r for r in waiting if r.catalog == "films"]
    assert [(r.owner, r.online, r.description) for r in films] == [
        (key(alice), True, "Alice's films")
    ]
    await remote.import_catalog(bob, "films", key(alice))
    assert [r.catalog for r in await remote.inbox(bob)] == []  # the hub serves no catalog
    rows = [r for r in await bob.my_shares() if r.catalog == "films"]
    assert rows[0].online
    assert rows[0].imported
    ref = await remote.resolve(bob, "films")
    assert ref.owner == key(alice)
    assert not ref.local
    assert await listing(bob, ref) == ["music.mp3", "trips/lake.mp4", "trips/notes.txt"]
    assert await listing(bob, ref, prefix="trips/") == ["trips/lake.mp4", "trips/notes.txt"]
    assert await listing(bob, ref, search="NOTES") == ["trips/notes.txt"]
    summary = await remote.summary(bob, ref)
    assert (summary.files, summary.owner, summary.description) == (3, key(alice), "Alice's films")


async def test_the_owner_browses_through_the_same_api(world: World) -> None:
    ref = await remote.resolve(world.alice, "films")
    assert ref.local
    assert len(await listing(world.alice, ref)) == 3


async def test_carol_can_neither_import_nor_reach(world: World) -> None:
    alice, carol = world.alice, world.carol
    await remote.share(alice, "films", key(world.bob))
    with pytest.raises(RemoteError, match="not shared with you") as refused:
        await remote.import_catalog(carol, "films", key(alice))
    assert refused.value.status == 403

    # A rogue hub gives carol routes anyway. A truthful import (her own key in token 1)
    # reaches the server, which refuses her; a lying one (bob's key) NATS drops.
    lying = jwt.Import(
        name="lie",
        type="service",
        account=serving_of(world.hub, key(alice)),
        subject=subjects.catalog_import(key(world.bob), "films"),
        local_subject=subjects.remote_local("stolen"),
    )
    await rogue_import(world, carol, "films", also=[lying])
    truthful = remote.CatalogRef(key(alice), "films", "films", local=False)
    with pytest.raises(NotShared):
        await remote.summary(carol, truthful)
    stolen = remote.CatalogRef(key(alice), "films", "stolen", local=False)
    with pytest.raises(NotShared):  # no route at all: NATS dropped the lying import
        await remote.summary(carol, stolen)


async def test_unshare_revokes_within_two_seconds(world: World) -> None:
    ref = await shared_and_imported(world)
    assert len(await listing(world.bob, ref)) == 3
    began = time.monotonic()
    await remote.unshare(world.alice, "films", key(world.bob))
    with pytest.raises(NotShared):
        await remote.summary(world.bob, ref)
    assert time.monotonic() - began < 2
    info = await world.bob.account_info()
    assert info.catalogs == []  # the hub removed bob's import
    with pytest.raises(NotShared, match="not shared"):
        await remote.resolve(world.bob, "films")


async def test_the_running_server_refuses_at_once_after_unshare(world: World) -> None:
    """Even if a route stayed (a rogue hub), the server itself refuses after unshare."""
    await shared_and_imported(world)
    assert world.server.access.allows(key(world.bob), "films")
    await world.alice.record_unshare("films", key(world.bob))  # the event alone, no revoke

    async def refused() -> bool:
        return not world.server.access.allows(key(world.bob), "films")

    await eventually(refused, 2, "the server refuses bob")
    ref = remote.CatalogRef(key(world.alice), "films", "films", local=False)
    with pytest.raises(NotShared):
        await remote.summary(world.bob, ref)


async def test_offline_is_said_at_once(world: World) -> None:
    ref = await shared_and_imported(world)
    await world.server.stop()
    rows = [r for r in await world.bob.my_shares() if r.catalog == "films"]
    assert rows[0].online is False  # a clean stop: offline at once
    began = time.monotonic()
    with pytest.raises(CatalogOffline, match="offline"):
        await remote.summary(world.bob, ref)
    assert time.monotonic() - began < 1
    world.server = CatalogServer(world.alice, world.alice.home.path, ["films"])
    await world.server.start()  # so the fixture can stop it again
    assert (await remote.summary(world.bob, ref)).files == 3


async def test_two_catalogs_of_one_name_from_two_owners(world: World, tmp_path: Path) -> None:
    carol, bob = world.carol, world.bob
    make_media(tmp_path / "carol-media")
    with Catalogs(carol.home.path) as mine:
        mine.new("films", "Carol's films", tmp_path / "carol-media")
    carol_server = CatalogServer(carol, carol.home.path, ["films"])
    await carol_server.start()
    try:
        await shared_and_imported(world)
        await remote.share(carol, "films", key(bob))
        with pytest.raises(RemoteError, match="another catalog"):
            await remote.import_catalog(bob, "films", key(carol))
        await remote.import_catalog(bob, "films", key(carol), alias="films2")
        assert (await remote.summary(bob, await remote.resolve(bob, "films2"))).owner == key(carol)
        by_owner = await remote.resolve(bob, "films", owner=key(carol))
        assert (await remote.summary(bob, by_owner)).description == "Carol's films"
        assert (await remote.summary(bob, await remote.resolve(bob, "films"))).owner == key(
            world.alice
        )
    finally:
        await carol_server.stop()


async def test_a_large_catalog_pages(world: World, tmp_path: Path) -> None:
    alice = world.alice
    make_media(tmp_path / "big", count=2500)
    with Catalogs(alice.home.path) as mine:
        mine.new("big", "", tmp_path / "big")
        expected = [e.path for e in mine.index.entries("big")]
    server = CatalogServer(alice, alice.home.path, ["big"])
    await server.start()
    try:
        await remote.share(alice, "big", key(world.bob))
        await remote.import_catalog(world.bob, "big", key(alice))
        ref = await remote.resolve(world.bob, "big")
        pages = [page async for page in remote.pages(world.bob, ref, page_size=1000)]
        assert [len(p.entries) for p in pages] == [1000, 1000, 503]
        assert [e.path for p in pages for e in p.entries] == expected
    finally:
        await server.stop()


HOSTILE = {
    "not json": b"{",
    "a list": b"[]",
    "wrong types": json.dumps({"after": 5, "limit": "x"}).encode(),
    "limit too big": json.dumps({"limit": 10**9}).encode(),
    "unknown field": json.dumps({"admin": True}).encode(),
    "traversal prefix": json.dumps({"prefix": "../../etc/"}).encode(),
    "absolute after": json.dumps({"after": "/etc/passwd"}).encode(),
    "nul": json.dumps({"prefix": "a\u0000b"}).encode(),
    "huge": b"{" + b" " * limits.MAX_REQUEST_BYTES + b"}",  # within what an account may send
}


@pytest.mark.parametrize("endpoint", ["contents", "search", "summary", "nope"])
async def test_hostile_requests_get_4xx(world: World, endpoint: str) -> None:
    """Each of HOSTILE, in one world per endpoint (none of them changes anything)."""
    me = key(world.alice)
    subject = subjects.catalog_local(me, "films", endpoint)
    for label, payload in HOSTILE.items():
        began = time.monotonic()
        try:
            await _nats.request(world.alice.connection, subject, payload)
        except RemoteError as exc:
            code = exc.status
        except ServiceUnavailable:
            code = 0  # no such endpoint: no responders, at once
        else:
            code = 200
        if endpoint == "nope":
            assert code == 0, label
        else:
            assert code == 200 if endpoint == "summary" else 400 <= code < 500, label
        assert time.monotonic() - began < 1, label
        assert (
            await remote.summary(world.alice, await remote.resolve(world.alice, "films"))
        ).files == 3


async def test_share_refuses_bad_input(world: World) -> None:
    with pytest.raises(CatalogError, match="own account"):
        await remote.share(world.alice, "films", key(world.alice))
    with pytest.raises(InvalidKey, match="account public key"):
        await remote.share(world.alice, "films", "bob")
    with pytest.raises(CatalogError, match="no catalog"):
        await remote.share(world.alice, "music", key(world.bob))


async def test_discoverable_and_served_twice_as_a_queue_group(world: World) -> None:
    link = await world.alice.open_serving()  # micro's discovery, where the servers are
    try:
        reply = await link.connection.request("$SRV.PING.natster-catalog", b"", timeout=2)
    finally:
        await link.close()
    assert json.loads(reply.data)["name"] == "natster-catalog"
    second_client = await NatsterClient.connect(Home(world.alice.home.path))
    second = CatalogServer(second_client, world.alice.home.path, ["films"])
    await second.start()
    try:
        ref = await shared_and_imported(world)
        await world.server.stop()  # one machine goes away; the other still answers
        assert (await remote.summary(world.bob, ref)).files == 3
    finally:
        await second.stop()
        await second_client.close()


async def test_the_hub_catalog_is_served_and_shared_with_everyone(
    world: World, tmp_path: Path
) -> None:
    from natster.client.hub_catalog import serve_hub_catalog

    welcome = tmp_path / "welcome"
    welcome.mkdir()
    (welcome / "README.txt").write_text("welcome to this hub")
    server, client = await serve_hub_catalog(world.hub.dir, world.hub.info.local_url, welcome)
    try:
        hub_key = world.hub.dir.load().accounts["hub"]
        rows = [r for r in await remote.inbox(world.bob) if r.catalog == "hub"]
        assert rows[0].online
        assert rows[0].owner == hub_key
        await remote.import_catalog(world.bob, "hub", hub_key)
        ref = await remote.resolve(world.bob, "hub")
        assert await listing(world.bob, ref) == ["README.txt"]
    finally:
        await server.stop()
        await client.close()


async def test_a_served_folder_is_watched(world: World) -> None:
    ref = await shared_and_imported(world)
    for attempt in range(100):  # the watcher is live once a probe shows up (slow under load)
        (world.media / "probe.txt").write_text(str(attempt))
        await asyncio.sleep(0.1)
        if "probe.txt" in await listing(world.bob, ref):
            break
    before = (await remote.summary(world.bob, ref)).revision
    (world.media / "new-film.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 10)

    async def shown() -> bool:
        return "new-film.mp4" in await listing(world.bob, ref)

    await eventually(shown, 3, "the new file shows up")
    deadline = time.monotonic() + 3  # the heartbeat follows the index by a moment
    while True:
        rows = [r for r in await world.bob.my_shares() if r.catalog == "films"]
        assert rows[0].revision is not None
        if rows[0].revision > before:  # the new revision reached the global service
            break
        assert time.monotonic() < deadline, f"revision still {rows[0].revision}"
        await asyncio.sleep(0.1)


async def test_the_hub_catalog_reaches_accounts_made_after_it_started(
    world: World, tmp_path: Path, join_user: JoinUser
) -> None:
    """The hub's server learns of each newcomer from the feed (regression)."""
    from natster.client.hub_catalog import serve_hub_catalog

    welcome = tmp_path / "welcome"
    welcome.mkdir()
    (welcome / "hi.txt").write_text("hi")
    server, client = await serve_hub_catalog(world.hub.dir, world.hub.info.local_url, welcome)
    try:
        async with await NatsterClient.connect(await join_user("dave")) as dave:
            hub_key = world.hub.dir.load().accounts["hub"]
            await remote.import_catalog(dave, "hub", hub_key)
            assert await listing(dave, await remote.resolve(dave, "hub")) == ["hi.txt"]
    finally:
        await server.stop()
        await client.close()


async def _put_as(client: NatsterClient, event_type: str, data: dict[str, str]) -> Any:
    """events.put spoken on the wire, as a hostile client would."""
    body = json.dumps({"type": event_type, "data": data}).encode()
    return await client.request(subjects.global_local("events.put"), body)


async def test_a_share_can_be_declined_and_a_person_blocked(world: World) -> None:
    alice, bob, carol = world.alice, world.bob, world.carol
    await remote.share(alice, "films", key(bob))
    assert [r.catalog for r in await remote.inbox(bob) if r.owner == key(alice)] == ["films"]
    declined = await remote.decline(bob, "films", "alice")
    assert declined.owner == key(alice)
    assert not [r for r in await remote.inbox(bob) if r.owner == key(alice)]
    assert not [r for r in await alice.my_shares() if r.to == key(bob)]  # ended for her too
    with pytest.raises(NotShared, match="not in your inbox"):
        await remote.decline(bob, "films")

    await remote.share(alice, "films", key(bob))  # declining is not blocking
    name, gone = await remote.block(bob, "alice")
    assert (name, gone) == ("alice", ["films"])  # her pending share is declined too
    with pytest.raises(RemoteError, match="does not take shares from you") as refused:
        await remote.share(alice, "films", key(bob))
    assert refused.value.status == 403
    assert not [r for r in await bob.my_shares() if r.owner == key(alice)]
    await remote.block(bob, "alice", blocked=False)
    await remote.share(alice, "films", key(bob))
    assert [r.catalog for r in await remote.inbox(bob) if r.owner == key(alice)] == ["films"]

    # carol, speaking the wire herself, cannot decline or block for bob
    share = {"owner": key(alice), "catalog": "films", "target": key(bob)}
    for event_type, data in (
        ("natster.catalog.declined", share),
        ("natster.account.blocked", {"account": key(bob), "other": key(alice)}),
        ("natster.account.unblocked", {"account": key(bob), "other": key(carol)}),
    ):
        with pytest.raises(RemoteError) as exc:
            await _put_as(carol, event_type, data)
        assert exc.value.status == 403, event_type
    assert [r.catalog for r in await remote.inbox(bob) if r.owner == key(alice)] == ["films"]

    await remote.import_catalog(bob, "films", key(alice))  # imported: no longer in the inbox
    with pytest.raises(RemoteError, match="imported that catalog already"):
        await _put_as(bob, "natster.catalog.declined", share)


async def test_an_import_is_forgotten_back_into_the_inbox(world: World) -> None:
    """bob forgets films: it leaves his library (the import is gone from his account),
    the share stands and it is in his inbox again; he can import it again."""
    alice, bob = world.alice, world.bob
    await shared_and_imported(world)
    forgotten = await remote.forget_import(bob, "films")
    assert (forgotten.owner, forgotten.catalog) == (key(alice), "films")
    assert "films" not in [c.alias for c in (await bob.account_info()).catalogs]
    assert [r.catalog for r in await remote.inbox(bob)] == ["films"]
    with pytest.raises(CatalogNotFound, match="not imported yet"):
        await remote.resolve(bob, "films")
    with pytest.raises(CatalogNotFound):  # forgotten already: not in his library
        await remote.forget_import(bob, "films")
    with pytest.raises(CatalogError, match="your own catalog"):
        await remote.forget_import(alice, "films")
    forged = {  # as the attack: bob forgets carol's import for her
        "type": "natster.catalog.forgotten",
        "data": {"owner": key(alice), "catalog": "films", "importer": key(world.carol)},
    }
    with pytest.raises(RemoteError) as refused:
        await bob.request(endpoints.EVENTS_PUT.local(), json.dumps(forged).encode())
    assert refused.value.status == 403
    await remote.import_catalog(bob, "films", key(alice))
    assert (await remote.summary(bob, await remote.resolve(bob, "films"))).name == "films"


async def test_a_share_after_an_unshare_restores_the_import_unless_declined(
    world: World,
) -> None:
    """bob imported films as "alice-films"; alice unshares (his import goes), then
    shares again: it is back in his library under his name for it, not in his inbox.
    carol declined it: shared again, it is in her inbox, not her library."""
    alice, bob, carol = world.alice, world.bob, world.carol
    await remote.share(alice, "films", key(bob))
    await remote.import_catalog(bob, "films", key(alice), alias="alice-films")
    await remote.unshare(alice, "films", key(bob))
    assert (await bob.account_info()).catalogs == []
    again = await remote.share(alice, "films", key(bob))
    assert (again.duplicate, again.restored) == (False, True)
    assert [c.alias for c in (await bob.account_info()).catalogs] == ["alice-films"]
    assert not [r for r in await remote.inbox(bob) if r.owner == key(alice)]
    ref = await remote.resolve(bob, "alice-films")
    assert len(await listing(bob, ref)) == 3  # and it works end to end
    assert (await remote.share(alice, "films", key(bob))).duplicate  # shared: nothing to do

    await remote.share(alice, "films", key(carol))
    await remote.decline(carol, "films", "alice")
    back = await remote.share(alice, "films", key(carol))
    assert (back.duplicate, back.restored) == (False, False)
    assert [r.catalog for r in await remote.inbox(carol)] == ["films"]
    assert (await carol.account_info()).catalogs == []
    # the attack, on the wire: carol asks the hub to restore bob's import of alice's films
    # (restored for the owner only: the caller is alice nowhere here)
    body = json.dumps({"catalog": "films", "target": key(bob)}).encode()
    await remote.unshare(alice, "films", key(bob))
    answer = await carol.request(endpoints.IMPORTS_RESTORE.local(), body)
    assert answer == {"restored": False, "alias": None}
    assert (await bob.account_info()).catalogs == []
