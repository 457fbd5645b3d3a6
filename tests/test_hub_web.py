"""The hub's web app server, as a hostile visitor sees it: static files, the WebSocket
address, guest JWTs for sign-in pages (their rights, their rate), the QR code."""

from __future__ import annotations

import httpx
import pytest

from natster.security import KeyKind, KeyPair
from natster.security import jwt as jwtlib
from natster.web._hub import create_hub_app

from .conftest import RunningHub


def _client(hub: RunningHub, address: str = "203.0.113.7") -> httpx.AsyncClient:
    app = create_hub_app(hub.dir, ws_port=4443)
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
        assert weird.status_code == 400


async def test_a_guest_jwt_lets_a_page_offer_and_wait_and_nothing_else(hub: RunningHub) -> None:
    user = KeyPair.create(KeyKind.USER)
    async with _client(hub) as web:
        answer = await web.post("/signin/guest", json={"user": user.public_key})
        assert answer.status_code == 200
        claims = jwtlib.decode_user(answer.json()["jwt"])
        assert claims.sub == user.public_key
        assert claims.iss == hub.dir.load().accounts["signup"]
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
