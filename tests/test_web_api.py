"""The web UI's HTTP side against a real world: sessions, Host, CSRF, API, ranges."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from natster._net import is_loopback, lan_address
from natster.web._guard import host_allowed, origin_allowed
from natster.web._ranges import RangeNotSatisfiable, disposition, parse_range, presentation

from .conftest import eventually_sync, natster
from .webworld import World, make_world, run


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from make_world(tmp_path_factory.mktemp("web-api"))


def signed_in(world: World) -> httpx.Client:
    client = httpx.Client(base_url=world.url, timeout=30)
    response = client.get(world.login_link().removeprefix(world.url))
    assert response.status_code == 303, response.text
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    return client


def _file_url(world: World, name: str) -> tuple[str, bytes]:
    data = (world.media / name).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    return f"/api/files/{world.alice_key}/demo/{digest}", data


def test_no_session_no_answer(world: World) -> None:
    for path in ("/", "/api/me", "/api/catalogs", "/api/events", "/static/app.js"):
        response = httpx.get(world.url + path)
        assert response.status_code == 401, path
    url, _ = _file_url(world, "pictures/sea.jpg")
    assert httpx.get(world.url + url).status_code == 401


def test_a_login_link_works_once(world: World) -> None:
    link = world.login_link()
    first = httpx.get(link)
    assert first.status_code == 303
    second = httpx.get(link)
    assert second.status_code == 401
    assert "already used" in second.text
    assert httpx.get(world.url + "/login?code=NOTACODE99").status_code == 401


def test_a_foreign_host_is_refused(world: World) -> None:
    client = signed_in(world)
    assert client.get("/api/me").status_code == 200
    for host in ("evil.example", f"evil.example:{world.web_port}", "127.0.0.1:1"):
        response = client.get("/api/me", headers={"Host": host})
        assert response.status_code == 403, host
    assert client.get("/api/me", headers={"Host": f"localhost:{world.web_port}"}).is_success


def test_no_secret_reaches_the_browser(world: World) -> None:
    client = signed_in(world)
    me = client.get("/api/me").json()
    assert set(me) == {"account", "name", "hub", "csrf", "rights"}
    assert me["account"] == world.bob_key
    assert me["name"] == "bob"
    seeds = [line for line in (world.bob / "user.creds").read_text().splitlines() if "SU" in line]
    body = client.get("/api/catalogs").text + client.get("/api/me").text
    assert seeds
    assert not any(seed.strip() in body for seed in seeds)
    assert "eyJ" not in body  # no JWT


def test_library_lists_the_shared_catalogs(world: World) -> None:
    rows = signed_in(world).get("/api/catalogs").json()
    demo = next(r for r in rows if r["catalog"] == "demo")
    assert demo["owner_name"] == "alice"
    assert demo["owner"] == world.alice_key
    assert demo["online"]
    assert demo["imported"]
    assert demo["files"] == len([p for p in world.media.rglob("*") if p.is_file()])
    extra = next(r for r in rows if r["catalog"] == "extra")
    assert not extra["imported"]  # in the inbox


def test_entries_page_and_search(world: World) -> None:
    client = signed_in(world)
    base = f"/api/catalogs/{world.alice_key}/demo/entries"
    page = client.get(base, params={"limit": 2}).json()
    assert len(page["entries"]) == 2
    assert page["next"]
    rest = client.get(base, params={"after": page["next"]}).json()
    assert page["entries"][-1]["path"] < rest["entries"][0]["path"]
    found = client.get(base, params={"q": "sunset"}).json()
    assert [e["path"] for e in found["entries"]] == ["pictures/sunset.png"]
    inside = client.get(base, params={"prefix": "music/"}).json()
    assert [e["path"] for e in inside["entries"]] == ["music/a-note.mp3"]
    assert client.get(base, params={"limit": 0}).status_code == 422
    unknown = client.get(f"/api/catalogs/{world.alice_key}/nope/entries")
    assert unknown.status_code in (403, 404)
    assert "error" in unknown.json()


def test_whole_file_and_ranges(world: World) -> None:
    client = signed_in(world)
    url, data = _file_url(world, "videos/test-pattern.mp4")
    whole = client.get(url)
    assert whole.status_code == 200
    assert whole.content == data
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "video/mp4"
    assert whole.headers["x-content-type-options"] == "nosniff"
    size = len(data)
    for header, start, end in (
        ("bytes=0-0", 0, 1),
        ("bytes=100-299", 100, 300),
        (f"bytes={size - 10}-", size - 10, size),
        ("bytes=-7", size - 7, size),
        (f"bytes={int(size * 0.8)}-{size * 2}", int(size * 0.8), size),
    ):
        part = client.get(url, headers={"Range": header})
        assert part.status_code == 206, header
        assert part.content == data[start:end], header
        assert part.headers["content-range"] == f"bytes {start}-{end - 1}/{size}"
    past = client.get(url, headers={"Range": f"bytes={size}-"})
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{size}"
    head = client.head(url)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(size)
    assert head.headers["content-type"] == "video/mp4"
    head = client.head(url, headers={"Range": "bytes=100-299"})
    assert head.status_code == 206
    assert head.headers["content-range"] == f"bytes 100-299/{size}"


def test_a_file_comes_direct_from_the_owners_machine_where_it_can(world: World) -> None:
    """`natster web` reads through the same transfers as `catalog download`: alice's
    `catalog serve` (a direct endpoint by default, on a machine with a network
    address) sends the player's ranges straight, once the first has found the way."""
    client = signed_in(world)
    url, data = _file_url(world, "videos/test-pattern.mp4")
    by_default = "via hub" if is_loopback(lan_address()) else "direct"

    def routed() -> bool:
        part = client.get(url, headers={"Range": "bytes=0-99"})
        assert part.content == data[:100]
        return part.headers["x-natster-route"].startswith(by_default)

    eventually_sync(routed, 10, f"ranges coming {by_default}")


def test_hostile_ranges_never_leak_a_transfer(world: World) -> None:
    """Each request opens a transfer on alice's server (32 at most per account): a header
    that made the UI fail used to leave its transfer open, and the catalog went busy."""
    client = signed_in(world)
    url, data = _file_url(world, "videos/test-pattern.mp4")
    size = len(data)
    hostile = ["bytes=" + "9" * 5000 + "-", "bytes=0-" + "9" * 5000, f"bytes={size}-", "x" * 9000]
    for attempt in range(40):
        response = client.get(url, headers={"Range": hostile[attempt % len(hostile)]})
        assert response.status_code in (200, 416), response.text
    for _ in range(40):
        with client.stream("GET", url) as response:  # the browser goes after the headers
            assert response.status_code == 200
    assert client.get(url, headers={"Range": "bytes=0-9"}).content == data[:10]


def test_download_keeps_the_name_and_html_never_renders(world: World) -> None:
    client = signed_in(world)
    url, data = _file_url(world, "documents/notes/recipe.md")
    got = client.get(url, params={"download": "1"})
    assert got.content == data
    assert got.headers["content-disposition"].startswith('attachment; filename="recipe.md"')
    assert got.headers["content-type"].startswith("text/plain")
    assert "sandbox" in got.headers["content-security-policy"]
    assert client.get(url[:-1] + "x").status_code == 400  # not a sha256
    missing = client.get(url[:-64] + "0" * 64)
    assert missing.status_code >= 400
    assert "error" in missing.json()


def test_changes_need_the_csrf_token(world: World, tmp_path: Path) -> None:
    client = signed_in(world)
    body = {"owner": world.alice_key, "catalog": "extra"}
    assert client.post("/api/imports", json=body).status_code == 403
    csrf = client.get("/api/me").json()["csrf"]
    wrong_origin = client.post(
        "/api/imports",
        json=body,
        headers={"X-Natster-CSRF": csrf, "Origin": "http://evil.example"},
    )
    assert wrong_origin.status_code == 403
    bad = client.post("/api/imports", json={"owner": "x"}, headers={"X-Natster-CSRF": csrf})
    assert bad.status_code == 422  # validated before anything happens


def test_openapi_documents_the_api(world: World) -> None:
    spec = signed_in(world).get("/api/openapi.json").json()
    for path in ("/api/catalogs", "/api/files/{owner}/{catalog}/{file_hash}", "/api/events"):
        assert path in spec["paths"]


# --- the pure parts, on anything a peer or a browser can send --------------------------------
@given(st.text(max_size=40), st.integers(min_value=0, max_value=10**9))
def test_parse_range_never_crashes_and_stays_inside(header: str, size: int) -> None:
    try:
        wanted = parse_range(header, size)
    except RangeNotSatisfiable:
        return
    if wanted is not None:
        assert 0 <= wanted.start < wanted.end <= size


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(1, 10**6))
def test_parse_range_is_exact(first: int, last: int, size: int) -> None:
    try:
        wanted = parse_range(f"bytes={first}-{last}", size)
    except RangeNotSatisfiable:
        assert first >= size
        return
    if last < first:
        assert wanted is None
    else:
        assert wanted is not None
        assert (wanted.start, wanted.end) == (first, min(last + 1, size))


@given(st.text(max_size=60))
def test_host_check_never_crashes(host: str) -> None:
    assert host_allowed(host, 8080, frozenset()) in (True, False)
    assert origin_allowed(host, "127.0.0.1:8080") in (True, False)


@given(st.from_regex(r"\A[a-z0-9-]{1,20}(\.[a-z0-9-]{1,20}){0,3}\.[a-z]{2,6}(:8080)?\Z"))
def test_dns_names_never_pass_the_host_check(host: str) -> None:
    """A rebinding attacker's page is served under a DNS name: never answered."""
    assert not host_allowed(host, 8080, frozenset())


def test_host_examples() -> None:
    ok = ["127.0.0.1:8080", "localhost:8080", "localhost", "192.168.1.20:8080", "[::1]:8080"]
    for host in ok:
        assert host_allowed(host, 8080, frozenset()), host
    bad = ["evil.com:8080", "127.0.0.1:9090", "", "localhost.evil.com", "127.0.0.1.nip.io:8080"]
    for host in bad:
        assert not host_allowed(host, 8080, frozenset()), host
    assert host_allowed("myhost:8080", 8080, frozenset({"myhost"}))
    assert origin_allowed(None, "h:1")
    assert origin_allowed("http://h:1", "h:1")
    assert not origin_allowed("http://evil:1", "h:1")
    assert not origin_allowed("null", "h:1")


@given(st.text(min_size=1, max_size=80))
def test_disposition_is_one_safe_header(name: str) -> None:
    value = disposition("dir/" + name, inline=False)
    assert "\n" not in value
    assert "\r" not in value
    assert value.isascii()


def test_presentation_never_renders_active_content() -> None:
    for path in ("a.html", "a.svg", "a.xml", "a.js", "a.xhtml"):
        kind, inline = presentation(path, None)
        assert not kind.startswith(("text/html", "image/svg", "application/xhtml"))
        assert kind.startswith("text/plain") or not inline
    assert presentation("v.mp4", "video/mp4") == ("video/mp4", True)


def test_the_page_has_a_strict_csp(world: World) -> None:
    response = signed_in(world).get("/")
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert '<script type="module" src=' in response.text
    assert "<script>" not in response.text  # no inline script for the CSP to allow


def test_share_and_unshare_my_catalog(world: World, tmp_path: Path) -> None:
    folder = tmp_path / "bobs"
    folder.mkdir()
    (folder / "a.txt").write_text("bob's file")
    run("catalog", "new", "bobs", "", str(folder), home=world.bob)
    client = signed_in(world)
    csrf = {"X-Natster-CSRF": client.get("/api/me").json()["csrf"]}

    def shared_with() -> list[str]:
        rows = client.get("/api/catalogs").json()
        mine = next(r for r in rows if r["catalog"] == "bobs")
        assert mine["mine"]
        assert mine["files"] == 1
        return list(mine["shared_with"])

    assert shared_with() == []
    put = client.post("/api/catalogs/bobs/shares", json={"account": world.alice_key}, headers=csrf)
    assert put.status_code == 200, put.text
    assert shared_with() == [world.alice_key]
    gone = client.delete(f"/api/catalogs/bobs/shares/{world.alice_key}", headers=csrf)
    assert gone.status_code == 200, gone.text
    assert shared_with() == []
    not_mine = client.post(
        "/api/catalogs/nope/shares", json={"account": world.alice_key}, headers=csrf
    )
    assert not_mine.status_code == 404
    assert "nope" in not_mine.json()["error"]


@pytest.mark.heavy
def test_a_busy_port_and_no_web_are_one_line_errors(world: World, tmp_path: Path) -> None:
    busy = natster("web", "--port", str(world.web_port), home=world.bob, timeout=30)
    assert busy.returncode == 1
    assert busy.stderr.strip().splitlines()[-1].startswith("error: cannot listen on")
    assert "Traceback" not in busy.stderr
    login = natster("login", "--no-browser", home=world.alice, timeout=30)  # no web for her
    assert login.returncode == 1
    assert login.stderr.strip() == (
        "error: natster web is not running for this user: start it with `natster web`"
    )


@pytest.mark.heavy
def test_before_init_web_and_login_say_so(tmp_path: Path) -> None:
    nobody = tmp_path / "nobody"
    for args in (("web", "--port", "1"), ("login", "--no-browser")):
        said = natster(*args, home=nobody, timeout=30)
        assert said.returncode == 1
        assert said.stderr.strip() == (
            f"error: no natster account in {nobody}: run `natster init --invite INVITE`"
        ), args


@pytest.mark.heavy
def test_an_unshare_ends_a_stream_in_one_line(world: World) -> None:
    """The stream stops; the web's log says why in a line, no traceback."""
    client = signed_in(world)
    (world.media / "big.bin").write_bytes(os.urandom(16 * 1024 * 1024))
    url, data = _file_url(world, "big.bin")
    eventually_sync(  # alice's server sees the new file and hashes it
        lambda: client.head(url).status_code == 200, 30, "the new file is served"
    )
    got = 0
    try:
        with client.stream("GET", url) as streamed:
            assert streamed.status_code == 200
            for piece in streamed.iter_bytes():
                if got == 0:
                    run("catalog", "unshare", "demo", world.bob_key, home=world.alice)
                got += len(piece)
    except httpx.HTTPError:
        pass  # cut short: what a player sees when its source ends
    finally:
        run("catalog", "share", "demo", world.bob_key, home=world.alice)
        run("catalog", "import", "demo", world.alice_key, home=world.bob)
    assert got < len(data)
    log = (world.base / "web.log").read_text()
    assert "Traceback" not in log, log
    assert "no longer shared" in log or "not shared with you" in log, log


@pytest.mark.heavy
def test_ctrl_c_stops_the_server_with_a_page_listening(world: World) -> None:
    """Last: an open event stream (a page left open) does not keep Ctrl-C waiting."""
    client = signed_in(world)
    with client.stream("GET", "/api/events") as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        proc = world.processes.pop("web")
        began = time.monotonic()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=20)
    assert time.monotonic() - began < 10
    assert code in (0, 130)
    assert "Traceback" not in (world.base / "web.log").read_text()
