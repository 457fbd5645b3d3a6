"""Devices against a real hub: a device code redeemed by a new machine, the device's
rights enforced by nats-server (its JWT), revocation and expiry cutting it off."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from nats.aio.msg import Msg

from natster import _nats, limits, subjects, wire
from natster import events as ev
from natster._nats import Client
from natster.client import Home, NatsterClient, remote
from natster.client.devices import (
    REDEEM,
    DeviceCode,
    list_devices,
    offer_device,
    redeem,
    revoke_device,
)
from natster.errors import ConfigError, InviteError, NatsterError, ReadOnlyDevice, RemoteError
from natster.security import Creds, KeyKind, KeyPair, XKey
from natster.web import create_app

from .conftest import JoinUser, RunningHub, eventually, key


async def _add(
    alice: NatsterClient, home: Home, name: str, **options: object
) -> tuple[NatsterClient, str]:
    """``device add NAME`` on alice's machine, ``init --device`` in ``home``."""
    offer = await offer_device(alice, name, **options)  # type: ignore[arg-type]
    waiting = asyncio.create_task(offer.wait())
    context = await redeem(offer.code.encode(), home=home, host="phone")
    device = await waiting
    assert device.user == context.user
    assert context.account == alice.home.load().account
    assert not home.account_seed_file.exists()  # the account seed never left alice
    return await NatsterClient.connect(home), offer.code.encode()


async def test_a_device_joins_with_its_own_key_and_is_listed(
    hub: RunningHub, alice: NatsterClient, tmp_path: Path
) -> None:
    phone, code = await _add(alice, Home(tmp_path / "phone"), "phone", expires_s=3600)
    try:
        assert (await phone.global_whoami()).name == "alice"
        context = phone.home.load()
        assert (context.device, context.rights) == ("phone", "full")
        assert (context.expires_at or 0) > time.time() + 3000
        views = {v.name: v for v in await list_devices(alice)}
        assert (views["phone"].online, views["phone"].host) == (True, "phone")
        me = views["this machine"]
        assert (me.this_machine, me.online) == (True, True)
        # the code is spent: nobody listens for it any more
        with pytest.raises(NatsterError):
            await redeem(code, home=Home(tmp_path / "thief"))
        assert not (tmp_path / "thief" / "context.json").exists()
        # a device adds no devices: it has no account key, and its JWT denies it the
        # subjects devices are managed on (nats-server refuses the revoke, not the page)
        with pytest.raises(ConfigError, match="account key"):
            await offer_device(phone, "laptop")
        with pytest.raises(ConfigError, match="account key"):
            await revoke_device(phone, "phone")
    finally:
        await phone.close()


async def test_a_read_only_device_cannot_share_import_or_serve(
    hub: RunningHub, alice: NatsterClient, join_user: JoinUser, tmp_path: Path
) -> None:
    bob = await NatsterClient.connect(await join_user("bob"))
    tablet, _code = await _add(alice, Home(tmp_path / "tablet"), "tablet", rights="read-only")
    errors: list[str] = []

    async def noted(exc: Exception) -> None:
        errors.append(str(exc))

    try:
        assert (await tablet.global_whoami()).name == "alice"  # it reads
        # the attack: the tablet's own connection asks for what its rights exclude
        context = tablet.home.load()
        nc = await _nats.connect(
            context.url, tablet.home.creds(), name="t", trust=tablet.home.trust(context)
        )
        nc._error_cb = noted  # nats-py reports a permissions violation here
        share = ev.CatalogShared(owner=key(alice), catalog="films", target=key(bob))
        denied = [
            subjects.global_local("events.put"),  # share, unshare, import
            subjects.global_local("heartbeats.put"),
            subjects.accounts_local("imports.add"),
            subjects.accounts_local("update"),
            subjects.accounts_local("devices.revoke"),
            subjects.accounts_local("serving"),  # credentials to serve from
        ]
        for subject in denied:
            await nc.publish(subject, share.model_dump_json().encode(), reply=nc.new_inbox())
        await nc.subscribe(subjects.catalog_listen("films", "list"))  # serving
        await nc.flush()
        await asyncio.sleep(0.5)
        await nc.close()
        for subject in denied:
            assert any(f'publish to "{subject}"' in e.lower() for e in errors), (subject, errors)
        assert any("violation for subscription" in e.lower() for e in errors), errors
        assert [s for s in await bob.my_shares() if s.catalog == "films"] == []
    finally:
        await tablet.close()
        await bob.close()


async def test_a_read_only_device_hears_it_is_read_only_at_once(
    hub: RunningHub, alice: NatsterClient, join_user: JoinUser, tmp_path: Path
) -> None:
    """What its JWT denies fails at once, in words: nats-server refuses the publish, and
    the request does not wait out its timeout."""
    bob = await NatsterClient.connect(await join_user("bob"))
    tablet, _code = await _add(alice, Home(tmp_path / "tablet"), "tablet", rights="read-only")
    tries: list[Callable[[], Awaitable[object]]] = [
        lambda: tablet.record_share("films", key(bob)),  # share, unshare, decline
        lambda: remote.import_catalog(tablet, "films", key(bob)),
        lambda: tablet.update_account(name="tablet-alice"),
        lambda: tablet.heartbeat("films", 1),  # serve
    ]
    try:
        for attempt in tries:
            began = time.monotonic()
            with pytest.raises(ReadOnlyDevice, match="this device is read-only"):
                await attempt()
            assert time.monotonic() - began < limits.REQUEST_TIMEOUT_S / 2
        assert (await tablet.global_whoami()).name == "alice"  # and it still reads
    finally:
        await tablet.close()
        await bob.close()


async def test_revoking_a_device_cuts_it_off_at_once(
    hub: RunningHub, alice: NatsterClient, tmp_path: Path
) -> None:
    phone, _code = await _add(alice, Home(tmp_path / "phone"), "phone")
    closed = asyncio.Event()

    async def on_closed() -> None:
        closed.set()

    phone.connection._closed_cb = on_closed
    phone.connection.options["max_reconnect_attempts"] = 0
    try:
        began = time.monotonic()
        device = await revoke_device(alice, "phone")
        assert device.revoked_at is not None

        async def cut() -> bool:
            return closed.is_set() or not phone.connection.is_connected

        await eventually(cut, 2 - (time.monotonic() - began), "the revoked device is cut off")
        with pytest.raises(NatsterError):  # and it cannot come back
            await NatsterClient.connect(phone.home)
        with pytest.raises(ConfigError, match="added no device"):
            await revoke_device(alice, "nobody")  # unknown names are refused in words
        with pytest.raises(ConfigError, match="lock you out"):
            await revoke_device(alice, "this machine")
    finally:
        await phone.close()


@pytest.mark.heavy
async def test_an_expired_device_is_cut_off(
    hub: RunningHub, alice: NatsterClient, tmp_path: Path
) -> None:
    phone, _code = await _add(alice, Home(tmp_path / "phone"), "phone", expires_s=2)
    try:
        deadline = time.monotonic() + 6
        while phone.connection.is_connected:
            assert time.monotonic() < deadline, "the expired device is still connected"
            await asyncio.sleep(0.1)
        expires_at = phone.home.load().expires_at or 0  # whole seconds: within its last
        await asyncio.sleep(max(0.0, expires_at + 1.1 - time.time()))  # one, still valid
        with pytest.raises(NatsterError):
            await NatsterClient.connect(phone.home)
    finally:
        await phone.close()


async def test_a_device_code_is_refused_when_damaged_expired_or_unanswered(
    hub: RunningHub, alice: NatsterClient, tmp_path: Path
) -> None:
    offer = await offer_device(alice, "phone", code_ttl_s=60)
    await offer.close()  # nobody waits for it
    with pytest.raises(NatsterError, match="device add"):
        await redeem(offer.code.encode(), home=Home(tmp_path / "a"))
    text = offer.code.encode()
    with pytest.raises(InviteError, match=r"damaged|not a natster"):
        await redeem(text[:-10], home=Home(tmp_path / "b"))
    expired = DeviceCode(
        url=offer.code.url,
        token=offer.code.token,
        creds=offer.code.creds,
        expires_at=int(time.time()) - 1,
        ca=offer.code.ca,
        account=offer.code.account,
    )
    with pytest.raises(InviteError, match="expired"):
        await redeem(expired.encode(), home=Home(tmp_path / "c"))
    for where in ("a", "b", "c"):
        assert not (tmp_path / where / "context.json").exists()


@pytest.mark.heavy
async def test_a_code_holder_reaches_nothing_but_the_rendezvous(
    hub: RunningHub, alice: NatsterClient, tmp_path: Path
) -> None:
    """The code's throwaway user, as an attacker holding it would use it."""
    offer = await offer_device(alice, "phone", code_ttl_s=60)
    errors: list[str] = []

    async def noted(exc: Exception) -> None:
        errors.append(str(exc))

    try:
        code = offer.code
        trust = alice.home.trust(alice.home.load())
        nc = await _nats.connect(
            code.url, code.creds, name="t", trust=trust, inbox_prefix=code.inbox_prefix
        )
        nc._error_cb = noted
        with pytest.raises(NatsterError):
            await _nats.request(nc, subjects.global_local("whoami"), b"{}", timeout=1)
        await nc.publish(subjects.catalog_local(key(alice), "films", "list"), b"{}")
        await nc.subscribe(f"{REDEEM}.>")  # to read other redeems
        await nc.flush()
        await asyncio.sleep(0.3)
        # a damaged redeem is answered with an error, and the code is not spent
        with pytest.raises(NatsterError):
            await _nats.request(nc, f"{REDEEM}.{code.token}", b'{"user": "x"}', timeout=2)
        good = wire.DeviceRedeemRequest(
            user=KeyPair.create(KeyKind.USER).public_key, xkey=XKey.create().public_key
        )
        waiting = asyncio.create_task(offer.wait())
        data = await _nats.request(nc, f"{REDEEM}.{code.token}", good.model_dump_json().encode())
        assert json.loads(json.dumps(data))["xkey"].startswith("X")
        assert (await waiting).user == good.user
        await nc.close()
        assert sum("permissions violation" in e.lower() for e in errors) == 3, errors
    finally:
        await offer.close()


async def test_a_read_only_devices_login_code_signs_in_nothing_but_itself(
    hub: RunningHub, alice: NatsterClient, tmp_path: Path
) -> None:
    """The attack: a read-only device asks for a login code and hands it to the full
    machine's `natster web`, whose claim would sign a browser in with full rights. A
    code signs in only the user who asked for it, whatever header the asker forges."""
    tablet, _code = await _add(alice, Home(tmp_path / "tablet"), "tablet", rights="read-only")
    try:
        mine = alice.home.load().user
        forged = json.dumps({"acc": key(alice), "user": mine})
        reply = await tablet.connection.request(
            subjects.global_local("otc.generate"),
            b"{}",
            timeout=5,
            headers={"Nats-Request-Info": forged},  # as if alice's machine asked
        )
        code = wire.OtcCode.model_validate(wire.unwrap(reply.data)).code
        with pytest.raises(RemoteError, match="unknown, expired or already used"):
            await alice.otc_claim(code, client="natster web")  # the full machine: refused
        claimed = await tablet.otc_claim(code, client="natster web")  # its own: signed in
        assert claimed.account == key(alice)
        own = await alice.otc_generate()  # and the full machine's own codes still work
        assert (await alice.otc_claim(own.code)).account == key(alice)
    finally:
        await tablet.close()


async def test_a_read_only_devices_web_ui_changes_nothing(
    hub: RunningHub, alice: NatsterClient, join_user: JoinUser, tmp_path: Path
) -> None:
    """`natster web` on a read-only device: signed in with the device's own code, it
    reads, and every change is refused in words (403) before NATS is even asked."""
    bob = await NatsterClient.connect(await join_user("bob"))
    tablet, _code = await _add(alice, Home(tmp_path / "tablet"), "tablet", rights="read-only")
    app = create_app(tablet, port=8080)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as web:
            code = (await tablet.otc_generate()).code
            assert (await web.get("/login", params={"code": code})).status_code == 303
            me = (await web.get("/api/me")).json()
            assert me["rights"] == "read-only"
            changes = {"X-Natster-CSRF": me["csrf"]}
            someone = {"owner": key(bob), "catalog": "x"}
            attempts: list[tuple[str, str, object]] = [
                ("POST", "/api/catalogs/films/shares", {"account": key(bob)}),
                ("DELETE", f"/api/catalogs/films/shares/{key(bob)}", None),
                ("POST", "/api/imports", someone),
                ("POST", "/api/declines", someone),
                ("POST", "/api/browsers", {"code": "ABCD", "full": True}),
            ]
            for method, url, body in attempts:
                answer = await web.request(method, url, json=body, headers=changes)
                assert answer.status_code == 403, (url, answer.text)
                assert "read-only" in answer.json()["error"]
            assert (await web.get("/api/catalogs")).status_code == 200  # it still reads
    finally:
        await tablet.close()
        await bob.close()


async def test_a_device_reads_no_reply_meant_for_another_user_of_the_account(
    hub: RunningHub, alice: NatsterClient, tmp_path: Path
) -> None:
    """The attack: a device subscribes to every inbox it can name, while the machine
    holding the account key asks for a login code and another device asks the hub.
    Each user reads only its own inbox (its JWT), so the device sees none of it."""
    tablet, _code = await _add(alice, Home(tmp_path / "tablet"), "tablet", rights="read-only")
    phone, _code = await _add(alice, Home(tmp_path / "phone"), "phone")
    errors: list[str] = []
    seen: list[bytes] = []

    async def noted(exc: Exception) -> None:
        errors.append(str(exc))

    async def got(msg: Msg) -> None:
        seen.append(msg.data)

    try:
        context = tablet.home.load()
        nc = await _nats.connect(
            context.url, tablet.home.creds(), name="t", trust=tablet.home.trust(context)
        )
        nc._error_cb = noted
        others = [alice.home.load().user, phone.home.load().user]
        wanted = [">", "_INBOX.>", "*.>", "_INBOX", *(subjects.inbox_allowed(u) for u in others)]
        for subject in wanted:
            await nc.subscribe(subject, cb=got)
        await nc.flush()
        code = (await alice.otc_generate()).code  # replies to the account's other users
        assert (await phone.global_whoami()).name == "alice"
        await asyncio.sleep(0.5)
        await nc.close()
        assert not [data for data in seen if code.encode() in data or b"alice" in data]
        assert seen == []
        refused = [e for e in errors if "violation for subscription" in e.lower()]
        assert len(refused) == len(wanted), errors
    finally:
        await tablet.close()
        await phone.close()


async def test_revoking_a_device_cuts_off_its_catalog_servers_too(
    hub: RunningHub, alice: NatsterClient, tmp_path: Path
) -> None:
    """The attack: a revoked device keeps answering as the owner from its serving
    connection. Revoking it revokes every serving user of the account: the device's
    serving connection closes within 2 s and its credentials are refused, while the
    owner's own server asks for new ones at once and answers again."""
    phone, _code = await _add(alice, Home(tmp_path / "phone"), "phone")

    async def answering(who: str) -> Callable[[Client], Awaitable[Callable[[], Awaitable[None]]]]:
        async def serve(nc: Client) -> Callable[[], Awaitable[None]]:
            async def answer(msg: Msg) -> None:
                await msg.respond(wire.ok({"from": who}))

            sub = await nc.subscribe(subjects.catalog_listen("films", "summary"), cb=answer)
            await nc.flush()
            return sub.unsubscribe

        return serve

    ours = await alice.open_serving(await answering("alice"))
    theirs = await phone.open_serving(await answering("phone"))
    asked = subjects.catalog_local(alice.account, "films", "summary")
    try:
        lost = theirs.connection
        stolen = Creds(jwt=theirs.jwt, seed=theirs._user.seed)
        began = time.monotonic()
        await revoke_device(alice, "phone")

        async def stopped_serving() -> bool:
            return not lost.is_connected

        await eventually(
            stopped_serving, 2 - (time.monotonic() - began), "the revoked device stops serving"
        )
        context = alice.home.load()
        with pytest.raises(NatsterError):  # its serving credentials are refused
            await _nats.connect(context.url, stolen, name="x", trust=alice.home.trust(context))

        async def the_owner_answers() -> bool:
            try:
                return bool(await alice.request(asked, b"{}", timeout=1) == {"from": "alice"})
            except NatsterError:
                return False

        await eventually(the_owner_answers, 10.0)  # on new credentials
        assert ours.connection is not None
        for _ in range(5):  # and only the owner: the device answers nothing any more
            assert await alice.request(asked, b"{}") == {"from": "alice"}
    finally:
        await theirs.close()
        await ours.close()
        await phone.close()


async def test_a_short_device_code_joins_once_and_its_words_unlock_nothing_else(
    hub: RunningHub, alice: NatsterClient, tmp_path: Path
) -> None:
    """`device add` prints words@hub/pin, as short as an invite: redeemed at the hub's
    doorstep they unlock the long code's parts (the seed sealed with a key the words
    make), once. The attack: the same words again, guessed words, an invite holder
    asking for device codes, a device code's holder asking to sign up: all refused."""
    offer = await offer_device(alice, "phone")
    short = offer.short.encode()
    assert short.count("@") == 1
    assert len(short) < 100
    waiting = asyncio.create_task(offer.wait())
    context = await redeem(short, home=Home(tmp_path / "phone"), host="phone")
    device = await waiting
    assert (context.device, device.user) == ("phone", context.user)
    assert not (tmp_path / "phone" / "account.nk").exists()
    phone = await NatsterClient.connect(Home(tmp_path / "phone"))
    try:
        assert (await phone.global_whoami()).name == "alice"
    finally:
        await phone.close()
    with pytest.raises(InviteError, match="used already"):  # spent: the doorstep says no
        await redeem(short, home=Home(tmp_path / "thief"))

    # the account service's own checks, asked on the wire by a guest of each kind
    other = await offer_device(alice, "tablet")
    try:
        words = other.short.words
        invite = await hub.invite()
        from natster.hub.entry.invites import Invite

        long_invite = Invite.decode(invite)
        nc = await _nats.connect(
            long_invite.url,
            long_invite.creds,
            name="invitee",
            trust=hub.dir.trust(),
            inbox_prefix=long_invite.inbox_prefix,
        )
        try:
            errors: list[str] = []

            async def noted(exc: Exception) -> None:
                errors.append(str(exc))

            nc._error_cb = noted  # an invite's creds may not ask for device codes
            body = wire.DeviceCodeRequest(words=words).encode()
            await nc.publish(subjects.DEVICE_CODE, body, reply=nc.new_inbox())
            await nc.flush()
            await asyncio.sleep(0.3)
            assert any(subjects.DEVICE_CODE in e.lower() for e in errors), errors
        finally:
            await nc.close()
        # guessed words, through the account service itself (as the hub's signup
        # account would route them): refused, and the real code still works
        guest = await _nats.connect(
            hub.info.local_url, hub.dir.creds("accounts"), name="x", trust=hub.dir.trust()
        )
        try:
            with pytest.raises(RemoteError, match="no such device code") as refused:
                await _nats.request(
                    guest,
                    subjects.DEVICE_CODE,
                    wire.DeviceCodeRequest(words="able-able-able-able").encode(),
                )
            assert refused.value.status == 403
            newcomer = KeyPair.create(KeyKind.ACCOUNT)  # and its words make no account
            proof = newcomer.sign(wire.signup_proof(words, newcomer.public_key))
            signup = wire.SignupRequest(
                token=words,
                account=newcomer.public_key,
                name="mallory",
                signature=base64.urlsafe_b64encode(proof).decode().rstrip("="),
            )
            with pytest.raises(RemoteError, match="already used or has expired"):
                await _nats.request(guest, subjects.SIGNUP, signup.encode())
        finally:
            await guest.close()
        waiting = asyncio.create_task(other.wait())
        tablet = await redeem(other.short.encode(), home=Home(tmp_path / "tablet"))
        assert tablet.device == "tablet"
        await waiting
    finally:
        await other.close()
