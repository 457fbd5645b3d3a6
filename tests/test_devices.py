"""Devices against a real hub: a device code redeemed by a new machine, the device's
rights enforced by nats-server (its JWT), revocation and expiry cutting it off."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from natster import _nats, subjects, wire
from natster import events as ev
from natster.client import Home, NatsterClient
from natster.client.devices import (
    REDEEM,
    DeviceCode,
    list_devices,
    offer_device,
    redeem,
    revoke_device,
)
from natster.errors import ConfigError, InviteError, NatsterError
from natster.security import KeyKind, KeyPair, XKey

from .conftest import JoinUser, RunningHub, key


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

        while not await cut():
            assert time.monotonic() - began < 2, "the revoked device is still connected"
            await asyncio.sleep(0.05)
        with pytest.raises(NatsterError):  # and it cannot come back
            await NatsterClient.connect(phone.home)
        with pytest.raises(ConfigError, match="added no device"):
            await revoke_device(alice, "nobody")  # unknown names are refused in words
        with pytest.raises(ConfigError, match="lock you out"):
            await revoke_device(alice, "this machine")
    finally:
        await phone.close()


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
