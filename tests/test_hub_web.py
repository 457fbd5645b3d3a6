"""The hub's web app server, as a hostile visitor sees it: static files, the WebSocket
address, guest JWTs for sign-in pages (their rights, their rate), the QR code."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from pathlib import Path

import httpx
import pytest

from natster import _nats, limits, subjects, wire
from natster._nats import Client
from natster.client import Home, join
from natster.hub import mint_invite, tls
from natster.security import Creds, KeyKind, KeyPair, XKey
from natster.security import jwt as jwtlib
from natster.services.platform import Platform
from natster.web._hub import create_hub_app

from .conftest import RunningHub, eventually, free_port


def _client(hub: RunningHub, address: str = "203.0.113.7") -> httpx.AsyncClient:
    app = create_hub_app(hub.dir, ws_port=4443, names=["hub.example.org", "::1"])
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="https://hub.example.org")


async def test_the_page_is_the_local_ui_in_hosted_mode_under_a_strict_policy(
    hub: RunningHub,
) -> None:
    async with _client(hub) as web:
        page = await web.get("/")
        assert 'data-mode="hosted"' in page.text
        policy = page.headers["content-security-policy"]
        assert "connect-src 'self' wss://hub.example.org:4443" in policy
        assert "script-src" not in policy  # default-src 'self': no inline script
        worker = await web.get("/sw.js")
        assert worker.headers["service-worker-allowed"] == "/"
        assert "natster service worker" in worker.text.split("\n", 1)[0]
        assert (await web.get("/config.json")).json() == {"servers": ["wss://hub.example.org:4443"]}
        assert (await web.get("/static/app.js")).status_code == 200
        assert (await web.get("/static/..%2fapp.js")).status_code == 404
        assert (await web.get("/static/sw.js")).status_code == 404  # one name, one place
        weird = await web.get("/config.json", headers={"Host": "a'b:1"})
        assert weird.status_code == 421
        six = await web.get("/config.json", headers={"Host": "[::1]:8443"})
        assert six.json() == {"servers": ["wss://[::1]:4443"]}


@pytest.mark.parametrize("path", ["/", "/config.json", "/sw.js", "/static/app.js"])
async def test_a_host_that_is_not_the_hubs_is_never_echoed(hub: RunningHub, path: str) -> None:
    """The attack: a page fetched under another name (a rebound DNS name, a forged Host)
    must not get a policy or config that names it."""
    async with _client(hub) as web:
        answer = await web.get(path, headers={"Host": "evil.example:443"})
        assert answer.status_code == 421
        assert "evil" not in answer.text
        assert "evil" not in json.dumps(dict(answer.headers))
        assert "hub.example.org" in answer.json()["error"]
        same = await web.get(path, headers={"Host": "HUB.example.org"})
        assert same.status_code == 200


async def _upgrade(port: int, context: ssl.SSLContext, origin: str | None) -> str:
    """A WebSocket handshake with nats-server, as a browser's page would start it."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="localhost"
    )
    try:
        lines = [
            "GET / HTTP/1.1",
            f"Host: localhost:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
            *([f"Origin: {origin}"] if origin else []),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        return (await asyncio.wait_for(reader.readline(), 5)).decode().strip()
    finally:
        writer.close()


async def test_the_websocket_takes_pages_of_the_hubs_own_web_app_only(tmp_path: Path) -> None:
    """The attack: a page on another site opens the hub's WebSocket in a visitor's
    browser. nats-server refuses its Origin; the hub's own web app (any of its names,
    as configured) and clients that send no Origin (not browsers) are let in."""
    web_port, ws_port = free_port(), free_port()
    platform = Platform(tmp_path / "hub", port=free_port(), web_port=web_port, ws_port=ws_port)
    await platform.start()
    try:
        files = platform.hub.tls_files
        assert files is not None
        context = ssl.create_default_context(cadata=tls.ca_pem(files).decode())
        assert "localhost" in platform.hub.web_names
        for origin in (
            "https://evil.example",
            f"https://evil.example:{web_port}",
            f"http://localhost:{web_port}",
            f"https://localhost:{ws_port}",
        ):
            assert " 403 " in await _upgrade(ws_port, context, origin), origin
        for allowed in (f"https://localhost:{web_port}", None):
            assert " 101 " in await _upgrade(ws_port, context, allowed), allowed
    finally:
        await platform.stop()


async def test_a_guest_jwt_lets_a_page_offer_and_wait_and_nothing_else(hub: RunningHub) -> None:
    user = KeyPair.create(KeyKind.USER)
    async with _client(hub) as web:
        answer = await web.post("/signin/guest", json={"user": user.public_key})
        assert answer.status_code == 200
        claims = jwtlib.decode_user(answer.json()["jwt"])
        assert claims.sub == user.public_key
        assert claims.iss == hub.dir.load().accounts["signin"]  # not the invite holders' pool
        assert claims.nats.pub.allow == [
            "natster.global.signin.offer",
            "natster.global.signin.wait",
        ]
        assert claims.nats.sub.allow == [f"_INBOX_{user.public_key}.>"]
        assert claims.exp is not None
        for body in ({"user": "ABAD"}, {"user": user.public_key, "extra": 1}, {}):
            refused = await web.post("/signin/guest", json=body)
            assert refused.status_code == 400
        assert (await web.post("/signin/guest", content=b"x" * 70_000)).status_code == 413


async def test_guest_jwts_are_rationed_per_address(hub: RunningHub) -> None:
    user = KeyPair.create(KeyKind.USER).public_key
    async with _client(hub) as web:
        codes = [
            (await web.post("/signin/guest", json={"user": user})).status_code for _ in range(12)
        ]
    assert codes[:10] == [200] * 10
    assert codes[10:] == [429, 429]
    async with _client(hub, address="198.51.100.9") as other:  # another address: its own
        assert (await other.post("/signin/guest", json={"user": user})).status_code == 200


@pytest.mark.parametrize("code", ["ABCD-EFGH", "ABCDEFGH"])
async def test_the_qr_code_shows_the_login_command(hub: RunningHub, code: str) -> None:
    async with _client(hub) as web:
        answer = await web.get("/signin/qr.svg", params={"code": code})
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "image/svg+xml"
        assert answer.text.lstrip().startswith("<?xml")
        assert (await web.get("/signin/qr.svg", params={"code": "<script>"})).status_code == 400


async def test_a_guest_holding_connections_locks_nobody_out(
    hub: RunningHub, tmp_path: Path
) -> None:
    """The attack: a guest token from the web app, connected as often as it will go,
    then guest after guest from one address. Each guest keeps one connection and one
    address a few (the rest are closed at once), and guests have a pool of their own:
    meanwhile a valid invite joins, and a new sign-in page gets its code."""
    context = hub.dir.trust()

    async def guest(address: str) -> tuple[KeyPair, str]:
        user = KeyPair.create(KeyKind.USER)
        async with _client(hub, address) as web:
            answer = await web.post("/signin/guest", json={"user": user.public_key})
        return user, answer.json()["jwt"]

    async def connect(user: KeyPair, jwt: str) -> Client:
        return await _nats.connect(
            hub.info.local_url, Creds(jwt=jwt, seed=user.seed), name="guest", trust=context
        )

    held: list[Client] = []
    try:
        hostile = await guest("203.0.113.7")
        held += [await connect(*hostile) for _ in range(20)]

        async def one_left() -> bool:
            return sum(nc.is_connected for nc in held) == 1

        await eventually(one_left, 5.0)
        invite = await mint_invite(hub.dir, 600)  # invite holders have their own pool
        joined = await join(invite.encode(), home=Home(tmp_path / "dan"), name="dan")
        assert joined.name == "dan"
        user, jwt = await guest("198.51.100.9")  # a real page: it works
        page = await connect(user, jwt)
        held.append(page)
        xkey = XKey.create().public_key
        offer = {"user": user.public_key, "xkey": xkey, "label": "Firefox on Linux"}
        reply = await page.request(
            subjects.global_local("signin.offer"), json.dumps(offer).encode(), timeout=5
        )
        assert "code" in wire.unwrap(reply.data)
        for number in range(limits.GUESTS_PER_ADDRESS + 4):  # many guests, one address
            held.append(await connect(*await guest(f"192.0.2.{number}")))

        async def capped() -> bool:  # every connection here is from 127.0.0.1
            return sum(nc.is_connected for nc in held) == limits.GUESTS_PER_ADDRESS

        await eventually(capped, 5.0)
        assert page.is_connected  # the newest go, not the page already there
    finally:
        for nc in held:  # nats-py's close of a connection the server keeps closing can
            with contextlib.suppress(Exception):  # hang (1 in ~20 on a busy machine)
                await asyncio.wait_for(nc.close(), 5)
