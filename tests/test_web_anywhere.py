"""The hub's web app in a real browser: a hub with TLS and wss (`hub up --web-port`),
alice serving her catalogs, bob signing a browser in with `natster login CODE`.

Chromium trusts the hub's own certificate by its key (--ignore-certificate-errors-spki-
list), as a browser trusts a public CA's; nothing else is relaxed: the page runs under
its real CSP, the service worker speaks NATS over wss and decrypts in the browser.
Chromium's NetLog (capture mode Everything: every byte after TLS) records what crossed
the wire, to look for seeds and plaintext in it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import playwright.sync_api as playwright_sync
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import test_web_browser as web_browser
from .test_web_browser import ARGS, CHROMIUM, until
from .webworld import World, make_world, run

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::ResourceWarning")]


@dataclass
class Browser:
    page: playwright_sync.Page
    context: playwright_sync.BrowserContext
    netlog: Path
    profile: Path


def _spki_pin(certificate: Path) -> str:
    cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from make_world(tmp_path_factory.mktemp("web-anywhere"), hub_web=True)


@pytest.fixture(scope="module")
def browser(world: World) -> Iterator[Browser]:
    netlog, profile = world.base / "netlog.json", world.base / "profile"
    pin = _spki_pin(world.hub_dir / "tls" / "server.pem")
    with playwright_sync.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            args=[
                *ARGS,
                f"--ignore-certificate-errors-spki-list={pin}",
                f"--log-net-log={netlog}",
                "--net-log-capture-mode=Everything",
            ],
            headless=True,
            viewport={"width": 1100, "height": 760},
            accept_downloads=True,
        )
        page = context.new_page()
        page.set_default_timeout(20_000)
        yield Browser(page, context, netlog, profile)
        context.close()


def sign_in(world: World, page: playwright_sync.Page, *options: str) -> str:
    """Bob signs the page in with the code it shows; the device's name."""
    page.goto(world.hub_url + "/")
    page.wait_for_selector("#signin-code, h1:text('Library')")
    api(page, "POST", "/api/signout")  # whoever it was
    page.goto(world.hub_url + "/")
    page.wait_for_selector("#signin-code")
    code = page.inner_text("#signin-code")
    said = run("login", code, *options, home=world.bob)
    page.wait_for_selector("h1:text('Library')")
    return said.split()[2].rstrip(":")


def signed_in(world: World, page: playwright_sync.Page) -> None:
    """A session for the tests that need one: the one an earlier test made, else a new one
    (so each test also runs alone, with -k)."""
    page.goto(world.hub_url + "/#/")
    if api(page, "GET", "/api/me")["status"] != 200:
        sign_in(world, page)


def api(page: playwright_sync.Page, method: str, path: str, body: Any = None) -> dict[str, Any]:
    """What the page's own fetch of ``path`` gets (through the service worker)."""
    answer: dict[str, Any] = page.evaluate(
        """async ([method, path, body]) => {
            const r = await fetch(path, { method, headers: { "Content-Type": "application/json" },
              body: body === null ? undefined : JSON.stringify(body) });
            const text = await r.text();
            return { status: r.status, type: r.headers.get("content-type"), text };
        }""",
        [method, path, body],
    )
    return answer


def open_file(world: World, page: playwright_sync.Page, name: str) -> None:
    web_browser.open_file(page, world, name, base=world.hub_url)


def test_a_browser_without_a_session_sees_only_the_sign_in_page(
    world: World, browser: Browser
) -> None:
    page = browser.page
    page.goto(world.hub_url + "/")
    code = page.locator("#signin-code").inner_text()
    assert len(code) == 9
    assert code[4] == "-"
    assert page.evaluate("document.body.classList.contains('signed-out')")
    assert "natster login" in page.inner_text("main")
    until(page, "document.querySelector('img.qr').naturalWidth > 0", 5)
    assert api(page, "GET", "/api/catalogs")["status"] == 401
    assert api(page, "GET", "/api/stats")["status"] == 401


def test_wrong_and_used_codes_sign_nothing_in(world: World, browser: Browser) -> None:
    wrong = run_fails("login", "ABCD-EFGH", home=world.bob)
    assert "unknown, expired or already used" in wrong
    page = browser.page
    page.goto(world.hub_url + "/")
    code = page.locator("#signin-code").inner_text()
    assert "signed in" in run("login", code, home=world.bob)
    page.wait_for_selector("h1:text('Library')")
    assert "unknown, expired or already used" in run_fails("login", code, home=world.bob)


def run_fails(*args: str, home: Path) -> str:
    from .conftest import natster

    result = natster(*args, home=home)
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    return result.stderr


def test_the_library_shows_who_is_online(world: World, browser: Browser) -> None:
    page = browser.page
    signed_in(world, page)
    page.goto(world.hub_url + "/#/")
    page.wait_for_selector(f".card [data-dot='{world.alice_key}/demo'].online")
    card = page.locator(".card[data-catalog='demo']")
    assert "Alice's media" in card.inner_text()
    assert page.locator(".card[data-inbox='extra']").count() == 1
    assert "read-only" in page.inner_text(".card[data-inbox='extra']")
    headings = page.locator("main h2").all_inner_texts()  # bob has no catalogs of his own:
    assert headings[:2] == ["Shared with me", "My catalogs"]  # what he can watch comes first
    page.goto(world.hub_url + "/#/me")
    assert page.locator("#account-key").inner_text() == world.bob_key
    assert page.locator("#device-rights").inner_text() == "read-only"


def test_the_library_views_work_through_the_service_worker(world: World, browser: Browser) -> None:
    """Folders, thumbnails and search over everything: answered in the browser over NATS."""
    page = browser.page
    signed_in(world, page)
    page.goto(f"{world.hub_url}/#/c/{world.alice_key}/demo")
    page.wait_for_selector("[data-folder='videos']")
    folders = page.locator("[data-folder]").evaluate_all("ns => ns.map(n => n.dataset.folder)")
    assert folders == ["documents", "music", "pictures", "videos"]
    page.goto(f"{world.hub_url}/#/c/{world.alice_key}/demo?path=pictures")
    until(page, "[...document.querySelectorAll('img.art')].length === 3")
    until(page, "[...document.querySelectorAll('img.art')].every(i => i.naturalWidth > 0)")
    page.goto(f"{world.hub_url}/#/search?q=ete")
    page.wait_for_selector("section.hits[data-catalog='demo'] .hit")
    assert "Été à la plage.jpg" in page.locator("section.hits").inner_text()
    found = api(page, "GET", "/api/people?q=ALI")  # the share form's choices, by name
    assert found["status"] == 200, found
    assert json.loads(found["text"]) == {
        "people": [{"account": world.alice_key, "name": "alice"}],
        "more": False,
    }


def test_video_plays_and_seeking_to_80_percent_plays_in_under_a_second(
    world: World, browser: Browser
) -> None:
    page = browser.page
    signed_in(world, page)
    open_file(world, page, "videos/test-pattern.mp4")
    took = web_browser.plays_then_seeks_to_80_percent(page)
    assert took < 1.0, f"seeking to 80% took {took:.2f} s to play"
    web_browser.close_viewer(page)


def test_audio_image_pdf_and_text(world: World, browser: Browser) -> None:
    page = browser.page
    signed_in(world, page)
    open_file(world, page, "music/a-note.mp3")
    until(page, "document.querySelector('audio').currentTime > 0.3")
    web_browser.close_viewer(page)
    open_file(world, page, "pictures/sunset.png")
    until(page, "document.querySelector('#viewer-body img').naturalWidth === 640")
    web_browser.close_viewer(page)
    open_file(world, page, "documents/notes/welcome.txt")
    until(page, "document.querySelector('#viewer-body pre').textContent.includes('Hello')")
    web_browser.close_viewer(page)
    open_file(world, page, "documents/leaflet.pdf")
    source = page.locator("#viewer-body iframe").get_attribute("src")
    assert source is not None
    pdf = api(page, "GET", source)
    assert (pdf["status"], pdf["type"]) == (200, "application/pdf")
    assert pdf["text"].startswith("%PDF")
    web_browser.close_viewer(page)


def test_a_download_is_the_file_its_sha256_names(world: World, browser: Browser) -> None:
    page = browser.page
    signed_in(world, page)
    open_file(world, page, "pictures/sea.jpg")
    with page.expect_download() as info:
        page.locator("#viewer-download").click()
    download = info.value
    assert download.suggested_filename == "sea.jpg"
    got = Path(download.path()).read_bytes()
    assert got == (world.media / "pictures" / "sea.jpg").read_bytes()
    web_browser.close_viewer(page)


def test_ranges_of_one_file_share_one_transfer(world: World, browser: Browser) -> None:
    """The service worker reads a player's next range (a seek) through the transfer the
    last one opened: four ranges, one transfer-open at alice's server (its log says)."""
    page = browser.page
    signed_in(world, page)  # (one device more would make the revoke test revoke the wrong one)
    data = (world.media / "pictures" / "sunset.png").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    url = f"/api/files/{world.alice_key}/demo/{digest}"
    log = world.base / "serve.log"
    opened_before = log.read_text(errors="replace").count(": pictures/sunset.png of demo")
    got = page.evaluate(
        """async (url) => {
            const out = [];
            for (const start of [0, 100, 7, 300]) {
              const r = await fetch(url, { headers: { Range: `bytes=${start}-${start + 9}` } });
              out.push([r.status, Array.from(new Uint8Array(await r.arrayBuffer()))]);
            }
            return out;
        }""",
        url,
    )
    for (status, body), start in zip(got, (0, 100, 7, 300), strict=True):
        assert (status, bytes(body)) == (206, data[start : start + 10])
    opened = log.read_text(errors="replace").count(": pictures/sunset.png of demo")
    assert opened - opened_before <= 1  # 0 if an earlier test's is still kept; 4 without


def test_a_read_only_browser_is_refused_by_the_server(world: World, browser: Browser) -> None:
    page = browser.page
    signed_in(world, page)
    page.goto(world.hub_url + "/#/")
    page.wait_for_selector(".card[data-inbox='extra']")
    assert page.get_by_role("button", name="Import extra").count() == 0  # not offered...
    # ...and asked anyway, nats-server refuses: the JWT's permissions, not the page
    imported = api(page, "POST", "/api/imports", {"owner": world.alice_key, "catalog": "extra"})
    assert imported["status"] == 403, imported
    assert "read-only" in json.loads(imported["text"])["error"]
    shared = api(page, "POST", "/api/catalogs/mine/shares", {"account": world.alice_key})
    assert shared["status"] == 403, shared


def test_a_revoked_browser_is_cut_off_and_says_so(world: World, browser: Browser) -> None:
    page = browser.page
    signed_in(world, page)
    open_file(world, page, "videos/test-pattern.mp4")  # it plays when it is revoked
    until(page, "document.querySelector('dialog[open] video').readyState >= 1")
    devices = json.loads(run("device", "ls", "--json", home=world.bob))
    name = next(d["name"] for d in devices if d["kind"] == "browser" and not d["revoked_at"])
    run("device", "revoke", name, home=world.bob)
    began = time.monotonic()  # revoked at the hub (a command's own start is not counted)
    reason = page.locator("#signin-reason").inner_text(timeout=5_000)
    assert time.monotonic() - began < 5
    assert "revoked" in reason
    assert page.locator("dialog[open]").count() == 0  # the player closed: no film plays on
    page.locator("#signin-code").wait_for(timeout=5_000)  # and it may sign in again


def test_add_this_browser_from_the_local_web_ui(world: World, browser: Browser) -> None:
    page = browser.page
    page.goto(world.hub_url + "/")
    code = page.locator("#signin-code").inner_text()
    link = run("login", "--no-browser", home=world.bob).strip().splitlines()[-1]
    with httpx.Client(base_url=world.url, timeout=15) as local:  # bob's own `natster web`
        local.get(link.removeprefix(world.url))
        csrf = local.get("/api/me").json()["csrf"]
        added = local.post("/api/browsers", json={"code": code}, headers={"X-Natster-CSRF": csrf})
        assert added.status_code == 200, added.text
        assert (added.json()["kind"], added.json()["rights"]) == ("browser", "read-only")
        again = local.post("/api/browsers", json={"code": code}, headers={"X-Natster-CSRF": csrf})
        assert again.status_code == 404  # once
    page.wait_for_selector("h1:text('Library')")


def test_an_expired_browser_is_cut_off_and_says_so(world: World, browser: Browser) -> None:
    page = browser.page
    sign_in(world, page, "--expires", "6s")
    reason = page.locator("#signin-reason").inner_text(timeout=15_000)
    assert "expired" in reason


def test_the_hub_away_is_said_and_a_reload_while_away_shows_the_offline_page(
    world: World, browser: Browser
) -> None:
    """The hub stops under both web apps (the hub's, and bob's own `natster web`): each
    says so within 5 s with no green dot, and clears by itself once it is back; a reload
    of the hub's web app meanwhile gets the service worker's offline page."""
    page = browser.page
    sign_in(world, page)
    local = browser.context.new_page()  # bob's `natster web`, in the same browser
    local.goto(world.login_link())
    pages = (page, local)
    for shown in pages:
        shown.goto(f"{world.hub_url if shown is page else world.url}/#/")
        shown.wait_for_selector(f".card [data-dot='{world.alice_key}/demo'].online")
        assert shown.locator("#hub-away").is_hidden()
        assert web_browser.GREEN in web_browser.dot_colors(shown)
    world.hub_down()
    try:
        began = time.monotonic()
        for shown in pages:
            shown.locator("#hub-away").wait_for(state="visible", timeout=10_000)
            words = shown.locator("#hub-away").inner_text().lower()
            assert "can't reach the hub, reconnecting" in words
        assert time.monotonic() - began < 5
        for shown in pages:
            assert web_browser.GREEN not in web_browser.dot_colors(shown)
        page.reload()  # the hub's web server is down too: the service worker answers
        page.wait_for_selector("h1#hub-away")
        assert "can't reach the hub, reconnecting" in page.inner_text("h1").lower()
    finally:
        world.hub_up()
    try:
        page.wait_for_selector("h1:text('Library')", timeout=40_000)  # back by itself
    except playwright_sync.TimeoutError:
        pytest.fail(f"not back by itself: {page.url} {page.inner_text('body')[:500]}")
    for shown in pages:
        shown.wait_for_selector(f".card [data-dot='{world.alice_key}/demo'].online", timeout=30_000)
        assert shown.locator("#hub-away").is_hidden()  # no reload needed for the local one
    local.close()


def test_storage_and_frames_hold_no_seed_and_no_plaintext(world: World, browser: Browser) -> None:
    page = browser.page
    sign_in(world, page)
    open_file(world, page, "videos/test-pattern.mp4")
    until(page, "document.querySelector('video').currentTime > 0.3")
    web_browser.close_viewer(page)
    stored = page.evaluate(
        """async () => {
            const db = await new Promise((ok, no) => {
              const r = indexedDB.open("natster"); r.onsuccess = () => ok(r.result);
              r.onerror = () => no(r.error); });
            const all = await new Promise((ok) => {
              const r = db.transaction("kv").objectStore("kv").getAll();
              r.onsuccess = () => ok(r.result); });
            return { kv: all, local: JSON.stringify(localStorage),
                     caches: await caches.keys() };
        }"""
    )
    secrets = _secrets(world)
    text = json.dumps(stored)
    for name, secret in secrets.items():
        assert secret not in text, f"the browser's storage holds {name}"
    (session,) = stored["kv"]  # its own session only: its own seed, for its own key
    assert session["seed"].startswith("SU")
    assert stored["caches"] == []
    kept = json.loads(stored["local"])  # where this browser left each film, and no more
    assert all(re.fullmatch(r"natster:at:[0-9a-f]{64}", k) for k in kept), kept
    assert all(set(json.loads(v)) == {"t", "at"} for v in kept.values()), kept
    browser.context.close()  # NetLog is complete once the browser exits
    sent, received = _wire(browser.netlog)
    assert len(received) > 200_000  # the video's chunks did cross it (sealed)
    assert session["jwt"].encode() in sent  # what was sent is read as NATS saw it
    sample = _samples(world.media / "videos" / "test-pattern.mp4")
    needles = {name: secret.encode() for name, secret in secrets.items()}
    needles["a plaintext piece of the video"] = sample
    for name, needle in needles.items():
        assert needle not in sent, f"{name} was sent"
        assert needle not in received, f"{name} was received"
    for path in browser.profile.rglob("*"):
        if path.is_file():
            assert sample not in path.read_bytes(), f"{path} holds plaintext of the video"


def _secrets(world: World) -> dict[str, str]:
    """Seeds that must never reach a browser: accounts' and other devices' user seeds."""
    found = {}
    for who, home in (("alice", world.alice), ("bob", world.bob)):
        found[f"{who}'s account seed"] = (home / "account.nk").read_text().strip()
        creds = (home / "user.creds").read_text()
        found[f"{who}'s own user seed"] = next(
            line.strip() for line in creds.splitlines() if line.strip().startswith("SU")
        )
    return found


def _samples(path: Path) -> bytes:
    """64 bytes from the middle of a file: plaintext nobody but its owner should see."""
    data = path.read_bytes()
    return data[len(data) // 2 : len(data) // 2 + 64]


def _wire(netlog: Path) -> tuple[bytes, bytes]:
    """Every byte Chromium sent and received on TLS sockets, after decryption; on
    WebSocket connections also each message as NATS saw it (unmasked, inflated)."""
    log = json.loads(netlog.read_text(errors="replace") or "{}")
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    streams: dict[int, dict[str, bytearray]] = {}
    for event in log["events"]:
        kind = names.get(event["type"], "")
        if kind not in ("SSL_SOCKET_BYTES_SENT", "SSL_SOCKET_BYTES_RECEIVED"):
            continue
        data = base64.b64decode(event.get("params", {}).get("bytes", ""))
        way = "sent" if kind.endswith("SENT") else "received"
        streams.setdefault(event["source"]["id"], {"sent": bytearray(), "received": bytearray()})
        streams[event["source"]["id"]][way].extend(data)
    sent, received = bytearray(), bytearray()
    for both in streams.values():
        sent += both["sent"]
        received += both["received"]
        if both["sent"].startswith(b"GET ") and b"websocket" in both["sent"][:2000].lower():
            sent += _messages(bytes(both["sent"]))
            received += _messages(bytes(both["received"]))
    return bytes(sent), bytes(received)


def _messages(stream: bytes) -> bytes:
    """The messages of one direction of a WebSocket connection, after its HTTP part:
    frames unmasked, fragments joined, permessage-deflate inflated."""
    out, message, inflate = bytearray(), bytearray(), zlib.decompressobj(-15)
    compressed, i = False, stream.find(b"\r\n\r\n") + 4
    while i + 2 <= len(stream):
        first, second = stream[i], stream[i + 1]
        length, i = second & 0x7F, i + 2
        if length == 126:
            length, i = int.from_bytes(stream[i : i + 2], "big"), i + 2
        elif length == 127:
            length, i = int.from_bytes(stream[i : i + 8], "big"), i + 8
        mask = b""
        if second & 0x80:
            mask, i = stream[i : i + 4], i + 4
        payload = stream[i : i + length]
        i += length
        if mask:
            payload = bytes(b ^ mask[n % 4] for n, b in enumerate(payload))
        if first & 0x0F in (1, 2):  # a new text or binary message
            compressed = bool(first & 0x40)
        elif first & 0x0F != 0:  # control frames: as they are
            out += payload
            continue
        message += payload
        if first & 0x80:  # its last fragment
            out += (
                inflate.decompress(bytes(message) + b"\x00\x00\xff\xff") if compressed else message
            )
            message.clear()
    return bytes(out)
