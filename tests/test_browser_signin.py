"""Signing a browser in, as the attack: the "page" here is a raw NATS connection of a
guest of the hub (what the web app's page does over wss), speaking signin.* itself.

A code works once, within its lifetime, for the one account that took it; the grant
opens only with the page's own xkey; the JWT it carries is a read-only device of that
account, which nats-server holds to its rights and revocation.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats import errors as nats_errors

from natster import _nats, limits, subjects, wire
from natster.client import NatsterClient
from natster.client.browsers import sign_in_browser
from natster.client.devices import list_devices, revoke_device
from natster.errors import InviteError, NatsterError, RemoteError
from natster.hub.entry.guests import signin_key
from natster.hub.entry.invites import signin_guest
from natster.security import Creds, KeyKind, KeyPair, XKey
from natster.security import jwt as jwtlib

from .conftest import RunningHub, eventually

pytestmark = pytest.mark.browser


@dataclass
class Page:
    """A browser's sign-in page: its own keys, a guest connection."""

    user: KeyPair
    xkey: XKey
    nc: Any

    async def ask(self, endpoint: str, body: dict[str, Any]) -> Any:
        reply = await self.nc.request(
            subjects.global_local(endpoint), json.dumps(body).encode(), timeout=5
        )
        return wire.unwrap(reply.data)

    async def offer(self, label: str = "Chromium on Linux") -> str:
        data = await self.ask(
            "signin.offer",
            {"user": self.user.public_key, "xkey": self.xkey.public_key, "label": label},
        )
        return str(data["code"])


async def _page(hub: RunningHub) -> Page:
    user, xkey = KeyPair.create(KeyKind.USER), XKey.create()
    jwt = signin_guest(
        signin_key(hub.dir.seed("operator-signing")), user.public_key, int(time.time()) + 300
    )
    nc = await _nats.connect(
        hub.info.local_url,
        Creds(jwt=jwt, seed=user.seed),
        name="test-signin-page",
        trust=hub.dir.trust(),
        inbox_prefix=f"_INBOX_{user.public_key}",
    )
    return Page(user, xkey, nc)


@pytest.fixture
async def page(hub: RunningHub) -> AsyncIterator[Page]:
    made = await _page(hub)
    try:
        yield made
    finally:
        await made.nc.close()


def _open(waiting: dict[str, Any], page: Page) -> dict[str, Any]:
    sealed = base64.urlsafe_b64decode(waiting["sealed"])
    return dict(json.loads(page.xkey.open(sealed, waiting["xkey"])))


async def test_a_code_signs_a_browser_in_once_as_a_read_only_device(
    hub: RunningHub, page: Page, alice: NatsterClient
) -> None:
    code = await page.offer()
    assert (await page.ask("signin.wait", {"code": code}))["state"] == "waiting"
    device = await sign_in_browser(alice, code.lower().replace("-", " "))
    assert (device.kind, device.rights) == ("browser", "read-only")
    assert device.name == "Chromium-on-Linux"
    waiting = await page.ask("signin.wait", {"code": code})
    assert waiting["state"] == "granted"
    grant = _open(waiting, page)
    claims = jwtlib.decode_user(grant["jwt"])
    assert claims.sub == page.user.public_key
    assert claims.iss == alice.account  # signed by alice's account key
    assert claims.exp is not None
    assert 0 < claims.exp - time.time() <= 24 * 3600
    assert (grant["rights"], grant["account_name"]) == ("read-only", "alice")
    # the grant went out once: the code is gone for the page, and for alice too
    with pytest.raises(RemoteError) as gone:
        await page.ask("signin.wait", {"code": code})
    assert gone.value.status == 404
    with pytest.raises(RemoteError, match="unknown, expired or already used"):
        await sign_in_browser(alice, code, name="again")

    # the browser connects as that user: alice's library, read-only rights
    browser = await _nats.connect(
        hub.info.local_url,
        Creds(jwt=grant["jwt"], seed=page.user.seed),
        name="test-browser",
        trust=hub.dir.trust(),
    )
    try:
        reply = await browser.request(subjects.global_local("whoami"), b"{}", timeout=5)
        assert wire.unwrap(reply.data)["name"] == "alice"
        views = {v.name: v for v in await list_devices(alice)}
        assert views[device.name].online
        assert views[device.name].kind == "browser"
        with pytest.raises(NatsterError):  # nats-server refuses: the JWT denies it
            await _nats.request(
                browser,
                subjects.global_local("events.put"),
                b'{"type": "natster.catalog.shared", "data": {}}',
                what="the global service",
            )
        await revoke_device(alice, device.name)

        async def cut_off() -> bool:
            return not browser.is_connected

        await eventually(cut_off, 3, "the revoked browser is cut off")
    finally:
        await browser.close()


async def test_a_code_taken_by_bob_cannot_sign_anyone_into_alice(
    page: Page, alice: NatsterClient, bob: NatsterClient
) -> None:
    code = await page.offer()
    taken = wire.unwrap(
        (
            await bob.connection.request(
                subjects.global_local("signin.take"), json.dumps({"code": code}).encode(), timeout=5
            )
        ).data
    )
    assert taken["user"] == page.user.public_key
    # alice cannot take it, nor grant it (as if it did not exist)
    with pytest.raises(RemoteError, match="unknown, expired or already used"):
        await sign_in_browser(alice, code)
    forged = XKey.create().seal(b'{"jwt": "x"}', page.xkey.public_key)
    body = {
        "code": code,
        "xkey": XKey.create().public_key,
        "sealed": base64.urlsafe_b64encode(forged).decode(),
    }
    reply = await alice.connection.request(
        subjects.global_local("signin.grant"), json.dumps(body).encode(), timeout=5
    )
    with pytest.raises(RemoteError) as refused:
        wire.unwrap(reply.data)
    assert refused.value.status == 404
    assert (await page.ask("signin.wait", {"code": code}))["state"] == "waiting"


async def test_wrong_and_expired_codes_sign_nothing_in(
    hub: RunningHub, page: Page, alice: NatsterClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InviteError, match="8 letters"):
        await sign_in_browser(alice, "ABC-1")
    with pytest.raises(RemoteError, match="unknown, expired or already used"):
        await sign_in_browser(alice, "ABCD-EFGH")
    code = await page.offer()
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 301)  # the hub's clock
    with pytest.raises(RemoteError, match="unknown, expired or already used"):
        await sign_in_browser(alice, code)
    with pytest.raises(RemoteError):
        await page.ask("signin.wait", {"code": code})


async def test_only_sign_in_pages_offer_and_a_page_may_do_nothing_else(
    hub: RunningHub, page: Page, alice: NatsterClient
) -> None:
    body = {"user": page.user.public_key, "xkey": page.xkey.public_key}
    reply = await alice.connection.request(
        subjects.global_local("signin.offer"), json.dumps(body).encode(), timeout=5
    )
    with pytest.raises(RemoteError) as refused:
        wire.unwrap(reply.data)
    assert refused.value.status == 403
    for endpoint in ("signin.take", "whoami", "my.shares", "otc.generate"):
        # the guest JWT allows offer and wait only: nats-server drops the rest
        with pytest.raises((TimeoutError, nats_errors.Error)):
            await page.nc.request(subjects.global_local(endpoint), b"{}", timeout=0.5)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.dictionaries(st.sampled_from(["user", "xkey", "label", "code", "x"]), st.text()))
async def test_hostile_offers_are_refused_cleanly(page: Page, body: dict[str, str]) -> None:
    for endpoint in ("signin.offer", "signin.wait"):
        reply = await page.nc.request(
            subjects.global_local(endpoint), json.dumps(body).encode(), timeout=5
        )
        envelope = json.loads(reply.data)
        assert envelope["code"] in (200, 400, 404)
        if envelope["code"] == 200:
            assert endpoint == "signin.offer" or envelope["data"]["state"] == "waiting"


async def test_a_page_can_neither_spend_anothers_grant_nor_the_hubs_offers(
    hub: RunningHub, page: Page, alice: NatsterClient
) -> None:
    """The attack: a second page waits on the first page's code (to take its grant),
    and offers codes until it is refused. The code answers only the page that offered
    it, and offers are counted per page: the first page still offers."""
    code = await page.offer()
    other = await _page(hub)
    try:
        with pytest.raises(RemoteError) as stolen:
            await other.ask("signin.wait", {"code": code})
        assert stolen.value.status == 404  # as if unknown
        await sign_in_browser(alice, code)
        with pytest.raises(RemoteError) as still:  # granted: still not the other page's
            await other.ask("signin.wait", {"code": code})
        assert still.value.status == 404
        assert (await page.ask("signin.wait", {"code": code}))["state"] == "granted"
        for _ in range(limits.SIGNIN_GUEST_RATE.burst):  # its burst (it offered none yet)
            await other.offer()
        with pytest.raises(RemoteError) as flood:
            await other.offer()
        assert flood.value.status == 429
        assert await page.offer()  # its own count: not spent by the other page
    finally:
        await other.nc.close()
