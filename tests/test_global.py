"""The global service against a real nats-server with JetStream."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import nats.js.errors
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats.js.api import AckPolicy, ConsumerConfig, DiscardPolicy

from natster import _nats, limits, subjects, wire
from natster import events as ev
from natster.client import Home, NatsterClient
from natster.errors import RemoteError, RequestTimeout, ServiceUnavailable, WrongRevision
from natster.services.global_service import rebuild as rebuild_module
from natster.services.global_service.projections import APPLIED_KEY, SHARES, share_key
from natster.services.global_service.projector import Projector, durable_name, durable_prefix
from natster.services.global_service.rebuild import rebuild
from natster.services.global_service.store import view_bucket
from natster.services.platform import start_global

from .conftest import JoinUser, RunningHub, eventually, snapshot


@pytest.fixture
async def trio(join_user: JoinUser) -> AsyncIterator[dict[str, NatsterClient]]:
    clients = {}
    for name in ("alice", "bob", "carol"):
        clients[name] = await NatsterClient.connect(await join_user(name))
    yield clients
    for client in clients.values():
        await client.close()


def key(client: NatsterClient) -> str:
    return client.context.account


async def test_share_unshare_and_real_numbers(
    hub: RunningHub, trio: dict[str, NatsterClient]
) -> None:
    alice, bob = trio["alice"], trio["bob"]
    base = await alice.stats()
    assert base.accounts == 3  # alice, bob and carol (the hub's own account: not a person)
    assert base.shares == 3  # the hub catalog, shared with each newcomer

    reply = await alice.record_share("films", key(bob))
    assert reply.seq is not None
    assert (await alice.record_share("films", key(bob))).duplicate  # sharing twice records nothing
    rows = await bob.my_shares()  # read-your-writes: visible at once
    films = [r for r in rows if r.catalog == "films"]
    assert len(films) == 1
    assert films[0].owner == key(alice)
    assert films[0].owner_name == "alice"  # as the hub knows her
    assert films[0].to == key(bob)
    assert films[0].online is False
    assert [r.to for r in await alice.my_shares() if r.catalog == "films"] == [key(bob)]
    assert (await alice.stats()).shares == base.shares + 1

    await bob.record_import(key(alice), "films")
    imported = [r for r in await bob.my_shares() if r.catalog == "films"]
    assert imported[0].imported is True

    await alice.record_unshare("films", key(bob))
    assert [r for r in await bob.my_shares() if r.catalog == "films"] == []
    assert (await alice.stats()).shares == base.shares  # unshares subtract
    with pytest.raises(RemoteError, match="not shared") as refused:
        await alice.record_unshare("films", key(bob))
    assert refused.value.status == 404


async def test_the_hub_catalog_is_shared_with_every_newcomer_and_offered_when_served(
    hub: RunningHub, trio: dict[str, NatsterClient]
) -> None:
    """Every newcomer is given a share of the hub's catalog, but while the hub serves
    none (this hub: `hub up` without --catalog) nobody's inbox offers it."""
    assert (await trio["alice"].stats()).shares == len(trio)  # one "hub" share each
    for client in trio.values():
        assert [r for r in await client.my_shares() if r.catalog == "hub"] == []


async def test_catalog_identity_is_owner_and_name(trio: dict[str, NatsterClient]) -> None:
    alice, bob, carol = trio["alice"], trio["bob"], trio["carol"]
    await alice.record_share("movies", key(carol))
    await bob.record_share("movies", key(carol))
    owners = sorted(r.owner for r in await carol.my_shares() if r.catalog == "movies")
    assert owners == sorted([key(alice), key(bob)])
    await alice.record_unshare("movies", key(carol))
    owners = [r.owner for r in await carol.my_shares() if r.catalog == "movies"]
    assert owners == [key(bob)]


@pytest.mark.parametrize(
    ("event_type", "data", "code"),
    [
        (ev.CATALOG_SHARED, {"owner": "BOB", "catalog": "x", "target": "CAROL"}, 403),
        (ev.CATALOG_SHARED, {"owner": "ME", "catalog": "x", "target": "ME"}, 400),
        (ev.CATALOG_SHARED, {"owner": "ME", "catalog": "x", "target": "STRANGER"}, 404),
        (ev.CATALOG_SHARED, {"owner": "ME", "catalog": "Bad Name", "target": "BOB"}, 400),
        (ev.CATALOG_SHARED, {"owner": "ME", "catalog": "x"}, 400),
        (ev.CATALOG_SHARED, {"owner": "ME", "catalog": "x", "target": "BOB", "x": 1}, 400),
        (ev.CATALOG_UNSHARED, {"owner": "ME", "catalog": "never", "target": "BOB"}, 404),
        (ev.CATALOG_IMPORTED, {"owner": "BOB", "catalog": "never", "importer": "ME"}, 403),
        (ev.CATALOG_IMPORTED, {"owner": "BOB", "catalog": "x", "importer": "CAROL"}, 403),
        (ev.ACCOUNT_INITIALIZED, {"account": "ME", "name": "me again"}, 403),
        (ev.CONTEXT_BOUND, {"account": "ME", "client": "x"}, 403),
        ("natster.made.up", {}, 400),
    ],
)
async def test_bad_events_are_refused_at_write_time(
    trio: dict[str, NatsterClient], event_type: str, data: dict[str, Any], code: int
) -> None:
    from natster.security import KeyKind, KeyPair

    names = {
        "ME": key(trio["alice"]),
        "BOB": key(trio["bob"]),
        "CAROL": key(trio["carol"]),
        "STRANGER": KeyPair.create(KeyKind.ACCOUNT).public_key,
    }
    body = {k: names.get(v, v) if isinstance(v, str) else v for k, v in data.items()}
    with pytest.raises(RemoteError) as refused:
        await trio["alice"]._put(event_type, body)
    assert refused.value.status == code


async def test_validate_name(trio: dict[str, NatsterClient]) -> None:
    alice = trio["alice"]
    assert (await alice.validate_name("my-films")).valid
    bad = await alice.validate_name("My Films")
    assert not bad.valid
    assert "lowercase" in (bad.reason or "")


async def test_one_time_codes(trio: dict[str, NatsterClient]) -> None:
    alice, bob = trio["alice"], trio["bob"]
    issued = await alice.otc_generate()
    assert len(issued.code) == limits.OTC_LENGTH
    assert issued.expires_in == 300
    assert len(set(issued.code)) > 1
    # Bob, guessing, cannot tell alice's live code from a code that never existed.
    answers = []
    for code in (issued.code, "ZZZZZZZZZZ"):
        request = json.dumps({"code": code}).encode()
        reply = await bob.connection.request(subjects.global_local("otc.claim"), request, timeout=5)
        answers.append(reply.data)
    assert answers[0] == answers[1]
    assert json.loads(answers[0])["code"] == 404
    claimed = await alice.otc_claim(issued.code.lower(), client="web on laptop")
    assert claimed.account == key(alice)
    with pytest.raises(RemoteError, match="already used") as again:
        await alice.otc_claim(issued.code)
    assert again.value.status == 404
    bound = (await alice.global_whoami()).bound_login
    assert bound is not None
    assert bound["client"] == "web on laptop"
    codes = {(await alice.otc_generate()).code for _ in range(limits.OTC_RATE.burst - 1)}
    assert len(codes) == limits.OTC_RATE.burst - 1  # all different
    with pytest.raises(RemoteError, match="too many login codes") as flood:
        await alice.otc_generate()  # the burst is spent
    assert flood.value.status == 429


async def _collect(client: NatsterClient, into: list[ev.FeedEvent]) -> asyncio.Task[None]:
    async def run() -> None:
        async for item in client.feed():
            into.append(item)

    task = asyncio.create_task(run())
    await asyncio.sleep(0.2)
    return task


async def test_presence_and_the_live_feed(
    trio: dict[str, NatsterClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "PRESENCE_TTL_S", 2)  # a killed server: offline in 2 s
    alice, bob, carol = trio["alice"], trio["bob"], trio["carol"]
    bob_feed: list[ev.FeedEvent] = []
    carol_feed: list[ev.FeedEvent] = []
    tasks = [await _collect(bob, bob_feed), await _collect(carol, carol_feed)]
    try:
        await alice.record_share("films", key(bob))
        await alice.heartbeat("films", 1)
        await alice.heartbeat("films", 1)
        await alice.heartbeat("films", 2)

        async def online() -> bool:
            rows = [r for r in await bob.my_shares() if r.catalog == "films"]
            return bool(rows) and rows[0].online and rows[0].revision == 2

        await eventually(online, 2)
        await alice.heartbeat("films", 2, online=False)  # a clean stop: offline at once

        async def offline() -> bool:
            return not next(r for r in await bob.my_shares() if r.catalog == "films").online

        await eventually(offline, 1)
        await alice.heartbeat("films", 3)
        await eventually(online_again := _online(bob, "films"), 2)
        await eventually(lambda: _not(online_again), 2 + 3)  # no more heartbeats: expired
        await alice.record_unshare("films", key(bob))
        await eventually(_has(bob_feed, "unshared"), 2)
    finally:
        for task in tasks:
            task.cancel()
    kinds = [e.kind for e in bob_feed if e.catalog == "films"]
    assert kinds == ["shared", "online", "revision", "offline", "online", "offline", "unshared"]
    assert [e.revision for e in bob_feed if e.kind == "revision"] == [2]
    assert carol_feed == []  # nothing about catalogs that are not hers


def _online(client: NatsterClient, catalog: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        rows = [r for r in await client.my_shares() if r.catalog == catalog]
        return bool(rows) and rows[0].online

    return check


async def _not(check: Callable[[], Awaitable[bool]]) -> bool:
    return not await check()


def _has(feed: list[ev.FeedEvent], kind: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return any(e.kind == kind for e in feed)

    return check


async def test_only_the_owner_can_heartbeat(trio: dict[str, NatsterClient]) -> None:
    """The owner is the caller NATS names: bob's heartbeat for "films" is bob's films."""
    alice, bob = trio["alice"], trio["bob"]
    await alice.record_share("films", key(bob))
    await bob.heartbeat("films", 9)
    rows = [r for r in await bob.my_shares() if r.catalog == "films"]
    assert rows[0].online is False  # alice's films is still offline


async def test_two_instances_agree(hub: RunningHub, trio: dict[str, NatsterClient]) -> None:
    second, nc = await start_global(hub.dir, hub.info.local_url)
    try:
        alice, bob = trio["alice"], trio["bob"]
        for i in range(6):  # requests spread over both instances (queue group)
            await alice.record_share(f"c{i}", key(bob))
            await alice.heartbeat(f"c{i}", i)
        first = hub.platform.global_service
        assert first is not None

        async def agree() -> bool:
            a, b = first.mirror, second.mirror
            return (
                a.shares == b.shares
                and a.presence.keys() == b.presence.keys()
                and len(a.shares) >= 9
            )

        await eventually(agree, 3)
        answers = {json.dumps([r.model_dump() for r in await bob.my_shares()]) for _ in range(6)}
        assert len(answers) == 1
    finally:
        await second.stop()
        await nc.close()


async def test_a_stale_mirror_loses_no_write(
    hub: RunningHub, trio: dict[str, NatsterClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An instance whose watches stopped (their node died; they resume seconds later)
    still decides from the buckets: no share refused as a duplicate, no unshare or import
    refused, while its mirror knows nothing of them."""
    monkeypatch.setattr(limits, "READ_YOUR_WRITES_S", 0.1)  # the stale mirror never catches up
    service = hub.platform.global_service
    assert service is not None
    await service.mirror.stop()
    alice, bob = trio["alice"], trio["bob"]
    assert (await alice.record_share("films", key(bob))).seq is not None
    await alice.record_unshare("films", key(bob))
    again = await alice.record_share("films", key(bob))
    assert again.seq is not None
    assert not again.duplicate
    assert (await alice.record_share("films", key(bob))).duplicate
    await bob.record_import(key(alice), "films")
    assert not any(s["catalog"] == "films" for s in service.mirror.shares.values())  # stale


@pytest.mark.heavy
async def test_a_decision_waits_for_lagging_projections(
    hub: RunningHub, trio: dict[str, NatsterClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A share acknowledged while the projections lag (their consumer sat on a node that
    died) is seen by the unshare that follows: the decision waits for the buckets to hold
    the whole log, and says "try again" if they do not within a moment (never a wrong
    "not shared")."""
    monkeypatch.setattr(limits, "READ_YOUR_WRITES_S", 0.1)
    monkeypatch.setattr(limits, "DECIDE_CATCH_UP_S", 1.0)
    service = hub.platform.global_service
    assert service is not None
    for task in service._tasks:  # its projectors stop: nothing reaches the buckets
        task.cancel()
    await asyncio.gather(*service._tasks, return_exceptions=True)
    alice, bob = trio["alice"], trio["bob"]
    assert (await alice.record_share("films", key(bob))).seq is not None
    with pytest.raises(RemoteError, match="catching up") as lagging:
        await alice.record_unshare("films", key(bob))
    assert lagging.value.status == 503
    second, nc = await start_global(hub.dir, hub.info.local_url)  # projectors resume
    try:
        statuses = []
        for _ in range(40):  # a batch the stopped projector held returns after its ack wait
            try:
                await alice.record_unshare("films", key(bob))
                break
            except RemoteError as exc:
                statuses.append(exc.status)
                await asyncio.sleep(0.25)
        else:
            raise AssertionError("the projections never caught up")
        assert set(statuses) <= {503}, statuses
        with pytest.raises(RemoteError, match="not shared"):
            await alice.record_unshare("films", key(bob))
    finally:
        await second.stop()
        await nc.close()


async def _consumer_made(js: Any) -> float:
    """When the shares projection's consumer was made (its durable name is fixed)."""
    info = await js.consumer_info(ev.STREAM, await durable_name(js, SHARES))
    return float(info.created.timestamp())


async def test_a_deleted_projection_consumer_is_made_again_at_once(
    hub: RunningHub, trio: dict[str, NatsterClient]
) -> None:
    """Fetches nobody answers mean an election, ridden out on the same subscription,
    unless the consumer is gone: then it is made again at once, after the bucket's mark,
    and the next write's decision finds the projections caught up."""
    nc = await _nats.connect(
        hub.info.local_url, hub.dir.creds("global"), trust=hub.dir.trust(), name="t"
    )
    try:
        js = nc.jetstream()
        before = await _consumer_made(js)
        await js.delete_consumer(ev.STREAM, await durable_name(js, SHARES))

        async def made_again() -> bool:
            try:
                return await _consumer_made(js) != before
            except nats.js.errors.NotFoundError:
                return False

        await eventually(made_again, seconds=limits.PROJECTION_RIDE_OUT_S / 2)
        alice, bob = trio["alice"], trio["bob"]
        assert (await alice.record_share("films", key(bob))).seq is not None
        assert (await alice.record_unshare("films", key(bob))).seq is not None  # its decision: seen
    finally:
        await nc.close()


async def test_a_projection_consumer_stuck_without_a_leader_is_made_anew(
    hub: RunningHub, trio: dict[str, NatsterClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A consumer whose raft group cannot elect a leader (a replica never caught up and
    the leader died: seen in a cluster, not made at will) answers no fetch, for ever.
    Past PROJECTION_RIDE_OUT_S of that, a projector deletes it and makes it anew after
    the bucket's mark; the instances still subscribed carry on with the new one. The
    unanswered fetches are played by the projector's ``step`` (the one stand-in here:
    the server, stream and consumers are real)."""
    monkeypatch.setattr(limits, "PROJECTION_RIDE_OUT_S", 1.0)
    nc = await _nats.connect(
        hub.info.local_url, hub.dir.creds("global"), trust=hub.dir.trust(), name="t"
    )
    stop = asyncio.Event()
    try:
        js = nc.jetstream()
        before = await _consumer_made(js)
        stuck = Projector(js, SHARES)

        async def unanswered(timeout: float) -> int:
            raise ServiceUnavailable("the event log is not answering")

        monkeypatch.setattr(stuck, "step", unanswered)
        running = asyncio.create_task(stuck.run(stop))

        async def made_anew() -> bool:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                return await _consumer_made(js) != before
            return False

        await eventually(made_anew, seconds=10)
        stop.set()
        await running
        alice, bob = trio["alice"], trio["bob"]  # the hub's own projector follows it
        assert (await alice.record_share("films", key(bob))).seq is not None
        assert (await alice.record_unshare("films", key(bob))).seq is not None
    finally:
        stop.set()
        await nc.close()


async def test_earlier_consumers_are_dropped_even_when_the_first_try_fails(
    hub: RunningHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dropping an earlier bucket incarnation's consumer is housekeeping: when it fails
    (a cluster still forming answers slowly), the projection goes on, and the drop is
    tried again until it is done (a growing hub once kept two consumers per projection)."""
    nc = await _nats.connect(
        hub.info.local_url, hub.dir.creds("global"), trust=hub.dir.trust(), name="t"
    )
    stop = asyncio.Event()
    try:
        js = nc.jetstream()
        stale = durable_prefix(SHARES) + "1"  # an earlier incarnation's name
        await js.add_consumer(
            ev.STREAM, ConsumerConfig(durable_name=stale, ack_policy=AckPolicy.ALL)
        )
        projector = Projector(js, SHARES)
        drop = projector._drop_stale_consumers
        tries: list[str] = []

        async def failing_once(keep: str) -> None:
            tries.append(keep)
            if len(tries) == 1:
                raise RequestTimeout("the event log did not answer within 5 s")
            await drop(keep)

        monkeypatch.setattr(projector, "_drop_stale_consumers", failing_once)
        running = asyncio.create_task(projector.run(stop))

        async def dropped() -> bool:
            names = [c.name for c in await js.consumers_info(ev.STREAM)]
            return stale not in names

        await eventually(dropped, seconds=10)
        assert len(tries) >= 2  # the first failed, a later one did it
        stop.set()
        await running
    finally:
        stop.set()
        await nc.close()


async def test_a_malformed_event_in_the_stream_does_not_poison(
    hub: RunningHub, trio: dict[str, NatsterClient]
) -> None:
    nc = await _nats.connect(
        hub.info.local_url, hub.dir.creds("global"), trust=hub.dir.trust(), name="t"
    )
    try:
        await nc.jetstream().publish("natster.events.shared.X", b"{not an event")
    finally:
        await nc.close()
    alice, bob = trio["alice"], trio["bob"]
    await alice.record_share("after", key(bob))
    assert [r.catalog for r in await bob.my_shares() if r.catalog == "after"] == ["after"]


async def test_restart_keeps_every_event(hub: RunningHub, tmp_path: Any) -> None:
    from natster.client import join
    from natster.services.platform import Platform

    homes = []
    for name in ("x", "y"):
        home = Home(tmp_path / name)
        await join(await hub.invite(), home=home, name=name)
        homes.append(home)
    async with await NatsterClient.connect(homes[0]) as x:
        await x.record_share("keep", homes[1].load().account)
    log = await _event_log(hub)  # as a natster before the log had limits made it
    await _update_event_log(hub, max_bytes=-1, discard=DiscardPolicy.OLD)
    await hub.platform.stop()
    again = Platform(hub.dir.path)
    await again.start()
    try:
        async with await NatsterClient.connect(homes[1]) as y:
            rows = [r for r in await y.my_shares() if r.catalog == "keep"]
            assert [r.owner for r in rows] == [homes[0].load().account]
        now = await _event_log(hub)
        assert now.config.max_bytes == limits.EVENT_LOG_MAX_BYTES  # full: refuse, never drop
        assert now.config.discard == DiscardPolicy.NEW
        assert now.state.messages >= log.state.messages
    finally:
        await again.stop()


async def _event_log(hub: RunningHub) -> Any:
    nc = await _nats.connect(
        hub.info.local_url, hub.dir.creds("global"), trust=hub.dir.trust(), name="t"
    )
    try:
        return await nc.jetstream().stream_info(ev.STREAM)
    finally:
        await nc.close()


async def _update_event_log(hub: RunningHub, **changes: Any) -> None:
    nc = await _nats.connect(
        hub.info.local_url, hub.dir.creds("global"), trust=hub.dir.trust(), name="t"
    )
    try:
        js = nc.jetstream()
        info = await js.stream_info(ev.STREAM)
        await js.update_stream(dataclasses.replace(info.config, **changes))
    finally:
        await nc.close()


async def test_rebuild_gives_the_live_state(
    hub: RunningHub, trio: dict[str, NatsterClient]
) -> None:
    alice, bob, carol = trio["alice"], trio["bob"], trio["carol"]
    await alice.record_share("a", key(bob))
    await alice.record_share("a", key(carol))
    await bob.record_import(key(alice), "a")
    await alice.record_unshare("a", key(carol))
    await alice.record_share("a", key(carol))
    await carol.otc_claim((await carol.otc_generate()).code, client="c")
    nc = await _nats.connect(
        hub.info.local_url, hub.dir.creds("global"), trust=hub.dir.trust(), name="t"
    )
    try:
        live = await snapshot(nc)
        facts = await rebuild(nc)
        assert facts["events"] >= 10
        assert await snapshot(nc) == live
        service = hub.platform.global_service
        assert service is not None

        async def mirrored() -> bool:
            return len(service.mirror.shares) == len(
                [v for v in live["shares"].values() if isinstance(v, dict) and v.get("shared")]
            )

        await eventually(mirrored, 5)  # the running instance reloaded its mirror
        await alice.record_share("b", key(bob))  # and keeps working after the rebuild
        assert "b" in [r.catalog for r in await bob.my_shares()]
    finally:
        await nc.close()


async def test_events_written_during_a_rebuild_reach_the_projections(
    hub: RunningHub, trio: dict[str, NatsterClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The running instance holds off while a rebuild replays, then goes on from the
    rebuilt mark: an event landing after the replay read the log is applied by it."""
    alice, bob = trio["alice"], trio["bob"]
    await alice.record_share("a", key(bob))
    service = hub.platform.global_service
    assert service is not None
    nc = await _nats.connect(
        hub.info.local_url, hub.dir.creds("global"), trust=hub.dir.trust(), name="t"
    )
    held_off: list[bool] = []
    replay = rebuild_module._replay

    async def replay_then_write(js: Any, last: int) -> Any:
        records = await replay(js, last)
        held_off.append(service._rebuilding())  # the live projectors wait meanwhile
        late = ev.make_event(
            ev.CATALOG_SHARED,
            key(alice),
            ev.CatalogShared(owner=key(alice), catalog="late", target=key(bob)),
            f"{key(alice)}/late",
        )
        await js.publish(late.stream_subject(), late.model_dump_json().encode())
        return records

    monkeypatch.setattr(rebuild_module, "_replay", replay_then_write)
    try:
        await rebuild(nc)
        assert held_off == [True]

        async def applied() -> bool:
            return "late" in [r.catalog for r in await bob.my_shares()]

        await eventually(applied, 5)
        assert not service._rebuilding()  # REBUILT ended the hold at once
        assert "a" in [r.catalog for r in await bob.my_shares()]
    finally:
        await nc.close()


_ = wire


OPS = st.lists(
    st.tuples(
        st.sampled_from(["share", "unshare", "import"]),
        st.sampled_from(["alice", "bob", "carol"]),
        st.sampled_from(["alice", "bob", "carol"]),
        st.sampled_from(["a", "b"]),
    ),
    min_size=20,
    max_size=60,
)


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
@pytest.mark.heavy
async def test_rebuild_equals_live_after_random_histories(
    hub: RunningHub, trio: dict[str, NatsterClient], ops: list[tuple[str, str, str, str]]
) -> None:
    refused = []
    for op, actor, other, catalog in ops:
        me, them = trio[actor], trio[other]
        try:
            if op == "share":
                await me.record_share(catalog, key(them))
            elif op == "unshare":
                await me.record_unshare(catalog, key(them))
            else:
                await me.record_import(key(them), catalog)
        except RemoteError as exc:
            refused.append(exc.status)
    assert all(400 <= code < 500 for code in refused), refused
    nc = await _nats.connect(
        hub.info.local_url, hub.dir.creds("global"), trust=hub.dir.trust(), name="t"
    )
    try:
        live = await snapshot(nc)
        await rebuild(nc)
        assert await snapshot(nc) == live
    finally:
        await nc.close()


async def test_an_account_made_while_the_global_service_was_down_heals(
    hub: RunningHub, tmp_path: Any
) -> None:
    from natster.client import join

    service = hub.platform.global_service
    assert service is not None
    await service.stop()  # signup cannot announce the newcomer now
    home = Home(tmp_path / "late")
    await join(await hub.invite(), home=home, name="late")
    hub.platform.global_service, nc = await start_global(hub.dir, hub.info.local_url)
    try:
        async with await NatsterClient.connect(home) as late:
            me = await late.global_whoami()  # not initialized: the client has it announced
            assert me.account == home.load().account
            assert me.name == "late"
    finally:
        await hub.platform.global_service.stop()
        hub.platform.global_service = None
        await nc.close()


async def test_a_late_projector_never_puts_back_older_state(
    hub: RunningHub, trio: dict[str, NatsterClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two instances apply overlapping batches (a batch redelivered while its first
    taker was slow, as after a node died): the slower one's writes are compare-and-set
    on what it read, so neither a record nor the applied mark goes back in time."""
    alice, bob = trio["alice"], trio["bob"]
    shared = (await alice.record_share("films", key(bob))).seq
    unshared = (await alice.record_unshare("films", key(bob))).seq
    assert shared is not None
    assert unshared is not None
    nc = await _nats.connect(
        hub.info.local_url, hub.dir.creds("global"), trust=hub.dir.trust(), name="t"
    )
    try:
        js = nc.jetstream()
        events = {
            seq: ev.parse_event((await js.get_msg(ev.STREAM, seq)).data or b"")
            for seq in (shared, unshared)
        }
        bucket = await view_bucket(js, SHARES.bucket)
        share = share_key(key(alice), "films", key(bob))
        assert json.loads(await bucket.value(share) or b"{}")["shared"] is False
        late = Projector(js, SHARES)
        late._kv = bucket
        load = late._load

        async def stale_load(parsed: Any) -> Any:  # what it read before the share applied
            return {k: (None, 0) for k in await load(parsed)}

        monkeypatch.setattr(late, "_load", stale_load)
        with pytest.raises(WrongRevision):  # the share, computed on what it had read
            await late._apply([(None, shared, events[shared])])
        assert json.loads(await bucket.value(share) or b"{}")["shared"] is False  # not revived
        monkeypatch.setattr(late, "_load", load)
        await late._apply([(None, shared, events[shared])])  # an old batch, applied late
        assert int(await bucket.value(APPLIED_KEY) or b"0") >= unshared  # the mark held
    finally:
        await nc.close()
