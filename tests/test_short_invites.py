"""Short invites: words, the hub's address and its pin's start, redeemed at the doorstep.

The attacks speak NATS themselves (nats-py, no natster client): a knock is a connection
with an inbox as user name and words as password, as a short invite's holder makes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from natster import limits, subjects
from natster._bucket import Bucket
from natster._nats import connect
from natster.client import Home, NatsterClient, join
from natster.errors import InviteError, NatsterError, UntrustedHub
from natster.hub.entry import short_invites
from natster.hub.entry.invites import mint_short_invite, token_key
from natster.hub.entry.short_invites import ShortInvite

from .conftest import RunningHub


async def knock(
    hub: RunningHub, password: str, user: str | None = None, seen: list[str] | None = None
) -> Any:
    """A raw connection at the doorstep (nats-py alone), reading its answers under the
    inbox it names as user; raises if the hub refuses it. ``seen``: its errors."""
    trust = hub.dir.trust()
    assert trust is not None
    user = user or f"_INBOX_{secrets.token_hex(16)}"
    errors: list[str] = [] if seen is None else seen

    async def record(exc: Exception) -> None:
        errors.append(str(exc).lower())

    try:
        return await nats.connect(
            hub.info.local_url,
            user=user,
            password=password,
            tls=trust.context(),
            tls_handshake_first=True,
            inbox_prefix=user if user.startswith("_INBOX_") else "_INBOX",
            allow_reconnect=False,
            max_reconnect_attempts=1,
            connect_timeout=3,
            error_cb=record,
        )
    except (nats.errors.Error, OSError) as exc:
        raise PermissionError(f"refused: {errors or exc}") from exc


async def test_a_short_invite_joins_once(hub: RunningHub, tmp_path: Path) -> None:
    short = await mint_short_invite(hub.dir, 3600)
    text = short.encode()
    assert len(text) < 80, text
    assert text.startswith(short.words + "@127.0.0.1:")
    assert short.pin is not None
    assert hub.info.ca_pin is not None
    assert hub.info.ca_pin.startswith(short.pin)
    home = Home(tmp_path / "dora")
    context = await join(text, home=home, name="dora")
    assert context.name == "dora"
    async with await NatsterClient.connect(home) as client:
        info = await client.account_info()
    assert info.account == context.account
    with pytest.raises(InviteError, match="used already, has expired, or its words are wrong"):
        await join(text, home=Home(tmp_path / "again"), name="again")
    with pytest.raises(PermissionError):  # the doorstep itself no longer lets its words in
        await knock(hub, short.words)


async def test_words_are_forgiving_but_not_loose(hub: RunningHub, tmp_path: Path) -> None:
    short = await mint_short_invite(hub.dir, 3600)
    first, *rest = short.words.split("-")
    typed = " ".join([first[:4].upper(), *rest])  # four letters are a word; any case, spaces
    text = ShortInvite(words=typed, host=short.host, port=short.port, pin=short.pin).encode()
    context = await join(text, home=Home(tmp_path / "eve"), name="eve")
    assert context.name == "eve"
    with pytest.raises(InviteError, match="did you mean 'dolphin'"):
        short_invites.canonical_words("dolphn-abandon-ability-able")
    with pytest.raises(InviteError, match="4 words, not 3"):
        short_invites.canonical_words("abandon-ability-able")


async def test_wrong_words_and_bad_knocks_are_refused(hub: RunningHub) -> None:
    short = await mint_short_invite(hub.dir, 3600)
    wrong = short_invites.new_words()
    for password, user in [
        (wrong, None),  # words of no invite
        ("", None),  # the sentinel alone
        (short.words, "someone"),  # an inbox not its own kind
        (short.words, "_INBOX_x"),  # too short to be secret
    ]:  # (four: the fifth try from one address in a burst is the last let through)
        with pytest.raises(PermissionError):
            await knock(hub, password, user)
    guest = await knock(hub, short.words)  # none of that spent the invite
    await guest.close()


async def test_a_guest_may_only_ask_signup_and_read_its_inbox(hub: RunningHub) -> None:
    short = await mint_short_invite(hub.dir, 3600)
    denied: list[str] = []
    guest = await knock(hub, short.words, seen=denied)
    try:
        await guest.subscribe("_INBOX.>")  # other holders' answers
        await guest.subscribe(f"_INBOX_{'0' * 32}.>")
        await guest.publish(subjects.global_local("signin.offer"), b"{}")
        await guest.publish("natster.anything", b"{}")
        await guest.flush()
        await asyncio.sleep(0.3)
        assert sum("permissions violation" in d for d in denied) == 4, denied
        reply = await guest.request(subjects.SIGNUP, b"{}", timeout=5)  # allowed: refused
        assert json.loads(reply.data)["code"] == 400
    finally:
        await guest.close()


async def _keep(hub: RunningHub, code: str, expires_at: int) -> None:
    """An invite of exactly ``code``, put where `hub invite` puts one."""
    nc = await connect(
        hub.info.local_url, hub.dir.creds("accounts"), name="test", trust=hub.dir.trust()
    )
    try:
        kv = await Bucket.open(nc.jetstream(), subjects.INVITES_BUCKET)
        record = {"expires_at": expires_at, "created_at": int(time.time()) - 99}
        await kv.create(token_key(code), json.dumps(record).encode(), ttl=60)
    finally:
        await nc.close()


async def test_expired_words_are_refused(hub: RunningHub) -> None:
    code = short_invites.new_words()
    await _keep(hub, code, int(time.time()) - 1)
    with pytest.raises(PermissionError):
        await knock(hub, code)


async def test_the_shortest_words_join(hub: RunningHub, tmp_path: Path) -> None:
    shortest = sorted(short_invites.words(), key=len)[: limits.INVITE_WORDS]
    code = "-".join(shortest)
    assert len(code) == 15
    await _keep(hub, code, int(time.time()) + 60)
    short = await mint_short_invite(hub.dir, 3600)
    text = ShortInvite(words=code, host=short.host, port=short.port, pin=short.pin).encode()
    assert (await join(text, home=Home(tmp_path / "ann"), name="ann")).name == "ann"


async def test_guessing_is_slowed_per_address(hub: RunningHub, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG, logger="natster.hub.entry.doorstep")
    short = await mint_short_invite(hub.dir, 3600)
    for _ in range(limits.DOORSTEP_TRIES.burst):
        with pytest.raises(PermissionError):
            await knock(hub, short_invites.new_words())
    with pytest.raises(PermissionError):  # the right words, too soon after
        await knock(hub, short.words)
    assert "too many tries from this address" in caplog.text


async def test_a_forged_ca_is_not_trusted(hub: RunningHub, tmp_path: Path) -> None:
    short = await mint_short_invite(hub.dir, 3600)
    assert short.pin is not None
    flipped = ("0" if short.pin[0] != "0" else "1") + short.pin[1:]
    forged = ShortInvite(words=short.words, host=short.host, port=short.port, pin=flipped)
    with pytest.raises(UntrustedHub, match="nothing was sent"):
        await join(forged.encode(), home=Home(tmp_path / "mallory"), name="m")
    plain = ShortInvite(words=short.words, host=short.host, port=short.port)  # no pin: plain TCP
    with pytest.raises(NatsterError):
        await join(plain.encode(), home=Home(tmp_path / "mallory2"), name="m")
    guest = await knock(hub, short.words)  # nothing was spent
    await guest.close()


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("able-able-able-able@hub.example.org", "nats://hub.example.org:4222"),
        ("able-able-able-able@hub.example.org:7422/" + "a" * 20, "tls://hub.example.org:7422"),
        ("ABLE able.able_able@[::1]:4223/" + "B" * 64, "tls://[::1]:4223"),
    ],
)
def test_short_forms_parse(text: str, url: str) -> None:
    parsed = ShortInvite.decode(text)
    assert parsed.url == url
    assert parsed.words == "able-able-able-able"
    assert ShortInvite.decode(parsed.encode()) == parsed


@pytest.mark.parametrize(
    "text",
    [
        "",
        "able-able-able-able",
        "able-able-able-able@",
        "able-able-able-able@hub/abc",  # a pin too short to trust
        "able-able-able-able@hub:99999",
        "able-able-able-able@hub:x",
        "able-able-able-able@hub/../../etc",
        "able-able-able-able@-hub-",
        "able-able-able@hub",
        "x" * 100_000,
    ],
)
def test_bad_short_forms_are_refused(text: str) -> None:
    with pytest.raises(InviteError):
        ShortInvite.decode(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_the_short_form_parser_never_crashes(text: str) -> None:
    try:
        parsed = ShortInvite.decode(text)
    except InviteError:
        return
    assert ShortInvite.decode(parsed.encode()) == parsed


async def test_a_guest_cannot_guess_words_at_signup(hub: RunningHub) -> None:
    """A holder let in may ask natster.signup about any words: the hub bounds how often."""
    short = await mint_short_invite(hub.dir, 3600)
    guest = await knock(hub, short.words)
    codes_seen: list[int] = []
    try:
        for _ in range(limits.SIGNUP_TRIES.burst + 1):
            body = {
                "token": short_invites.new_words(),
                "account": "A" * 56,
                "name": "x",
                "signature": "x",
            }
            reply = await guest.request(subjects.SIGNUP, json.dumps(body).encode(), timeout=5)
            codes_seen.append(json.loads(reply.data)["code"])
    finally:
        await guest.close()
    assert codes_seen[-1] == 429
    assert set(codes_seen[:-1]) == {400}
