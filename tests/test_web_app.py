"""The web UI's app in-process, over the test's own clients (as datasette tests its API).

The app takes a connected client, so the whole API runs here without uvicorn or a
browser: the same routes, guard and error statuses that `natster web` serves.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from natster import limits, wire
from natster.client.download import find_entry
from natster.services.transfer import Transfers
from natster.web import create_app

from .conftest import World, eventually, key, shared_and_imported

PORT = 8080


@pytest.fixture
async def browser(world: World) -> AsyncIterator[httpx.AsyncClient]:
    """Bob's signed-in browser on bob's app."""
    app = create_app(world.bob, port=PORT)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://127.0.0.1:{PORT}") as web:
        code = (await world.bob.otc_generate()).code
        signed_in = await web.get("/login", params={"code": code})
        assert signed_in.status_code == 303
        yield web


async def test_the_api_runs_in_process(world: World, browser: httpx.AsyncClient) -> None:
    await shared_and_imported(world)
    me = (await browser.get("/api/me")).json()
    assert me["account"] == key(world.bob)
    assert me["csrf"]
    library = (await browser.get("/api/catalogs")).json()
    assert {(item["owner"], item["catalog"]) for item in library} >= {(key(world.alice), "films")}
    page = (await browser.get(f"/api/catalogs/{key(world.alice)}/films/entries")).json()
    assert [entry["path"] for entry in page["entries"]] == [
        "music.mp3",
        "trips/lake.mp4",
        "trips/notes.txt",
    ]


async def test_a_range_is_decrypted_here_and_its_transfer_closed(
    world: World, browser: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "TRANSFER_REUSE_S", 0.1)  # kept for the next range this long
    ref = await shared_and_imported(world)
    entry = await find_entry(world.bob, ref, "trips/lake.mp4")
    url = f"/api/files/{key(world.alice)}/films/{entry.hash}"
    data = (world.media / "trips" / "lake.mp4").read_bytes()
    whole = await browser.get(url)
    assert whole.status_code == 200
    assert hashlib.sha256(whole.content).hexdigest() == entry.hash
    part = await browser.get(url, headers={"Range": "bytes=4-11"})
    assert part.status_code == 206
    assert part.content == data[4:12]
    assert part.headers["content-range"] == f"bytes 4-11/{len(data)}"
    head = await browser.head(url, headers={"Range": "bytes=-5"})
    assert head.headers["content-length"] == "5"
    assert head.content == b""

    async def every_one_closed() -> bool:  # a close is sent, not waited for
        return world.server.transfers.count(key(world.bob)) == 0

    await eventually(every_one_closed, 2.0)


async def test_ranges_of_one_file_share_its_transfer(
    world: World, browser: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A player's next range (a seek) reads through the transfer already open: no new
    transfer-open, a round trip to the owner before its first byte. Kept a few seconds."""
    ref = await shared_and_imported(world)
    entry = await find_entry(world.bob, ref, "trips/lake.mp4")
    data = (world.media / "trips" / "lake.mp4").read_bytes()
    opened: list[str] = []
    real_open = Transfers.open

    def counting(self: Transfers, *args: Any, **kwargs: Any) -> wire.TransferOpened:
        answer = real_open(self, *args, **kwargs)
        opened.append(answer.transfer)
        return answer

    monkeypatch.setattr(Transfers, "open", counting)
    monkeypatch.setattr(limits, "TRANSFER_REUSE_S", 1.0)
    url = f"/api/files/{key(world.alice)}/films/{entry.hash}"
    for start in (0, 40, 7, 90):
        part = await browser.get(url, headers={"Range": f"bytes={start}-{start + 9}"})
        assert part.content == data[start : start + 10]
    assert len(opened) == 1  # four ranges, one transfer
    assert world.server.transfers.count(key(world.bob)) == 1  # kept for the next

    async def closed() -> bool:
        return world.server.transfers.count(key(world.bob)) == 0

    await eventually(closed, 3.0)  # ...until TRANSFER_REUSE_S passed with no range
    await browser.get(url, headers={"Range": "bytes=0-9"})
    assert len(opened) == 2  # a new one, after that


async def test_errors_keep_their_status(world: World, browser: httpx.AsyncClient) -> None:
    refused = await browser.get(f"/api/catalogs/{key(world.alice)}/films/entries")
    assert refused.status_code == 403  # not shared with bob (yet)
    assert "not shared" in refused.json()["error"]
    bad = await browser.get(f"/api/files/{key(world.alice)}/films/not-a-hash")
    assert bad.status_code == 400
    changed = await browser.post("/api/imports", json={"owner": key(world.alice), "catalog": "x"})
    assert changed.status_code == 403  # no CSRF token


async def test_no_session_no_api(world: World) -> None:
    app = create_app(world.bob, port=PORT)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://127.0.0.1:{PORT}") as web:
        assert (await web.get("/api/me")).status_code == 401
        assert (await web.get("/api/me", headers={"Host": "evil.example"})).status_code == 403


def test_a_settled_process_keeps_what_it_loaded_out_of_full_collections() -> None:
    """`natster web` and `catalog serve` settle once started: the collector's full passes
    then skip everything loaded so far (they stopped a web request for ~50 ms)."""
    import gc

    from natster._heap import settle

    try:
        settle()
        assert gc.get_freeze_count() > 1000  # this test process's modules at least
    finally:
        gc.unfreeze()  # the other tests' objects are collected as usual
