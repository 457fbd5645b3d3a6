"""Attacks by another account on the same hub: a catalog server written to do harm.

Carol shares a catalog with bob and answers his requests with a hand-made server
(:mod:`tests.hostile`); bob uses natster as anyone would, mostly through the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import nats.errors
import pytest
from PIL import Image

from natster import _nats, endpoints, limits, subjects, wire
from natster.client import browse, remote
from natster.client.download import download, find_entry
from natster.client.mirror import mirror_pass
from natster.client.transfer import Transfer
from natster.errors import ProtocolError
from natster.security import Creds, KeyKind, KeyPair, jwt

from .conftest import World, eventually, key, serving_of
from .hostile import CHUNK, HostileServer, cli, entry

PAYLOAD = b"owned " * 100
USER = KeyPair.create(KeyKind.USER)


@pytest.fixture
async def evil(world: World) -> AsyncIterator[HostileServer]:
    """Carol's catalog "evil", shared with and imported by bob, served by her own code."""
    link = await world.carol.open_serving()  # where her catalog servers answer from
    server = HostileServer(link.connection, "evil", [], {})
    await server.start()
    await world.carol.record_share("evil", key(world.bob))  # no local catalog needed: she lies
    await remote.import_catalog(world.bob, "evil", key(world.carol))
    try:
        yield server
    finally:
        await server.stop()
        await link.close()


def serve_files(server: HostileServer, *rows: tuple[str, bytes]) -> None:
    server.entries = [entry(path, data) for path, data in rows]
    server.files = {row["hash"]: data for row, (_, data) in zip(server.entries, rows, strict=True)}


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header says ``width`` x ``height`` pixels."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "JPEG")
    data = bytearray(out.getvalue())
    at = data.index(b"\xff\xc0")
    data[at + 5 : at + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def outside_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    "path",
    ["../escape.txt", "../../escape.txt", "/tmp/escape.txt", "a/../../escape.txt", "a\x00b"],
)
async def test_a_rogue_server_cannot_write_outside_the_mirror(
    world: World, evil: HostileServer, tmp_path: Path, path: str
) -> None:
    serve_files(evil, ("fine.txt", b"fine"), (path, PAYLOAD))
    root = tmp_path / "victim"
    mirror = root / "home" / "bob" / "films"
    mirror.mkdir(parents=True)
    before = outside_files(root)
    code, _, stderr = await cli(
        world.bob.home.path, "catalog", "download", "evil", "--all", str(mirror)
    )
    assert code == 1
    assert "refuses" in stderr
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert outside_files(root) == before  # nothing written at all: the listing was refused
    assert not Path("/tmp/escape.txt").exists()


async def test_a_symlink_in_the_mirror_is_never_written_through(
    world: World, evil: HostileServer, tmp_path: Path
) -> None:
    serve_files(evil, ("ok.txt", b"ok"), ("docs/note.txt", PAYLOAD))
    mirror, elsewhere = tmp_path / "mirror", tmp_path / "elsewhere"
    mirror.mkdir()
    elsewhere.mkdir()
    (mirror / "docs").symlink_to(elsewhere)  # e.g. left there by the user long ago
    code, _stdout, stderr = await cli(
        world.bob.home.path, "catalog", "download", "evil", "--all", str(mirror)
    )
    assert code == 1
    assert "symbolic link" in stderr
    assert "1 file(s) were skipped" in stderr
    assert list(elsewhere.iterdir()) == []
    assert (mirror / "ok.txt").read_bytes() == b"ok"  # the rest still came


async def test_a_link_at_the_final_name_is_neither_followed_nor_replaced(
    world: World, evil: HostileServer, tmp_path: Path
) -> None:
    serve_files(evil, ("a.txt", PAYLOAD), ("b.txt", PAYLOAD))
    mirror, precious = tmp_path / "mirror", tmp_path / "precious"
    mirror.mkdir()
    precious.write_bytes(b"keep me")
    (mirror / "a.txt").symlink_to(precious)  # not the mirror's: left as it is
    (mirror / "b.txt.part").symlink_to(tmp_path / "also-precious")
    code, _, stderr = await cli(
        world.bob.home.path, "catalog", "download", "evil", "--all", str(mirror)
    )
    assert code == 1
    assert "not a regular file" in stderr
    assert precious.read_bytes() == b"keep me"
    assert not (tmp_path / "also-precious").exists()
    (mirror / "b.txt.part").unlink()
    code, _, stderr = await cli(
        world.bob.home.path, "catalog", "download", "evil", "--all", str(mirror)
    )
    assert code == 1
    assert "a.txt: a file this copy did not bring is there" in stderr
    assert precious.read_bytes() == b"keep me"
    assert (mirror / "a.txt").is_symlink()
    assert (mirror / "b.txt").read_bytes() == PAYLOAD


@pytest.mark.heavy
async def test_a_link_at_a_single_downloads_name_is_replaced_not_followed(
    world: World, evil: HostileServer, tmp_path: Path
) -> None:
    serve_files(evil, ("a.txt", PAYLOAD))
    precious = tmp_path / "precious"
    precious.write_bytes(b"keep me")
    (tmp_path / "a.txt").symlink_to(precious)
    args = ("catalog", "download", "evil", "a.txt", str(tmp_path / "a.txt"))
    code, _, stderr = await cli(world.bob.home.path, *args)
    assert code == 1  # something is in the way: nothing is touched
    assert "is already there and is not that file" in stderr
    assert (tmp_path / "a.txt").is_symlink()
    assert precious.read_bytes() == b"keep me"
    code, _, stderr = await cli(world.bob.home.path, *args, "--force")
    assert code == 0, stderr
    assert precious.read_bytes() == b"keep me"  # the link was replaced by the file
    assert not (tmp_path / "a.txt").is_symlink()
    assert (tmp_path / "a.txt").read_bytes() == PAYLOAD


async def test_the_mirror_never_replaces_or_deletes_a_file_it_did_not_bring(
    world: World, evil: HostileServer, tmp_path: Path
) -> None:
    """The attack: the owner lists a path where the receiver keeps a file of its own,
    with that file's very content (the mirror would take it as its own), then drops it
    so that `--delete` removes it; and lists a path over another own file with other
    content. Both own files stay as they are, reported; nothing else is touched."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    own, other = b"bob's own notes", b"bob's own photo"
    (mirror / "notes.txt").write_bytes(own)
    (mirror / "photo.jpg").write_bytes(other)
    serve_files(evil, ("notes.txt", own), ("photo.jpg", PAYLOAD), ("fine.txt", b"fine"))
    ref = await remote.resolve(world.bob, "evil")
    report = await mirror_pass(world.bob, ref, mirror, delete=True)
    assert sorted(s.split(":")[0] for s in report.skipped) == ["notes.txt", "photo.jpg"]
    assert (mirror / "fine.txt").read_bytes() == b"fine"
    serve_files(evil, ("fine.txt", b"fine"))  # the owner "drops" them
    report = await mirror_pass(world.bob, ref, mirror, delete=True)
    assert report.deleted == 0
    assert (mirror / "notes.txt").read_bytes() == own
    assert (mirror / "photo.jpg").read_bytes() == other


async def test_an_owner_cannot_learn_what_else_the_mirror_folder_holds(
    world: World, evil: HostileServer, tmp_path: Path
) -> None:
    """The attack: the owner lists a file with the content of one the receiver keeps
    elsewhere in the folder; a mirror that copied it locally would never ask for it,
    telling the owner the receiver has it. It asks, as for any file."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    secret = os.urandom(5000)
    (mirror / "private.bin").write_bytes(secret)
    serve_files(evil, ("probe.bin", secret))
    ref = await remote.resolve(world.bob, "evil")
    report = await mirror_pass(world.bob, ref, mirror)
    assert report.sent == len(secret)
    assert "transfer-open" in evil.seen
    assert (mirror / "private.bin").read_bytes() == secret


async def test_a_single_download_takes_only_the_last_part_of_a_path(
    world: World, evil: HostileServer, tmp_path: Path
) -> None:
    serve_files(evil, ("deep/er/name.txt", PAYLOAD))
    here = tmp_path / "victim" / "here"
    here.mkdir(parents=True)
    digest = evil.entries[0]["hash"]
    code, _, stderr = await cli(
        world.bob.home.path, "catalog", "download", "evil", digest, str(here)
    )
    assert code == 0, stderr
    assert outside_files(tmp_path / "victim") == [here / "name.txt"]


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ({"chunk_size": 0}, "chunk_size"),
        ({"chunks": 10**12}, "chunks"),
        ({"chunk_size": 4 * 1024 * 1024 - 4096 + 1, "chunks": 1}, "larger than asked"),
        ({"size": -1}, "size"),
        ({"path": "../x"}, "path"),
        ({"transfer": "../../x"}, "transfer"),
    ],
)
async def test_impossible_transfer_answers_are_refused(
    world: World, evil: HostileServer, tmp_path: Path, override: dict[str, object], words: str
) -> None:
    serve_files(evil, ("f.bin", os.urandom(CHUNK * 3)))
    evil.opened = override
    ref = await remote.resolve(world.bob, "evil")
    found = await find_entry(world.bob, ref, "f.bin")
    with pytest.raises(ProtocolError, match=words):
        await download(world.bob, ref, found, tmp_path / "f.bin")
    assert not (tmp_path / "f.bin").exists()


@pytest.mark.parametrize(
    ("by", "override"),
    [("path", {"path": "other.bin"}), ("path", {"hash": None}), ("hash", {"hash": "0" * 64})],
)
async def test_a_server_cannot_open_another_file_than_the_one_asked_for(
    world: World, evil: HostileServer, by: str, override: dict[str, object]
) -> None:
    serve_files(evil, ("f.bin", os.urandom(100)), ("other.bin", PAYLOAD))
    evil.opened = override
    ref = await remote.resolve(world.bob, "evil")
    asked = {"path": "f.bin"} if by == "path" else {"file_hash": evil.entries[0]["hash"]}
    with pytest.raises(ProtocolError, match="another file than the one asked for"):
        await Transfer(world.bob, ref, **asked).open()


async def test_a_server_from_before_open_by_path_is_asked_the_old_way(
    world: World, evil: HostileServer, tmp_path: Path
) -> None:
    serve_files(evil, ("films/a.bin", PAYLOAD))
    evil.by_path = False
    code, _, stderr = await cli(
        world.bob.home.path, "catalog", "download", "evil", "films/a.bin", str(tmp_path) + "/"
    )
    assert code == 0, stderr
    assert (tmp_path / "a.bin").read_bytes() == PAYLOAD
    assert evil.seen[:3] == ["transfer-open", "contents", "transfer-open"]


@pytest.mark.parametrize("size", [(65500, 65500), (321, 10), (10, 321), None])
async def test_a_thumbnail_bigger_than_the_box_is_refused(
    world: World, evil: HostileServer, size: tuple[int, int] | None
) -> None:
    """A picture of 65500 x 65500 pixels fits in a few hundred bytes: its header is read."""
    serve_files(evil, ("a.jpg", PAYLOAD))
    evil.thumb = jpeg_claiming(*size) if size else b"\xff\xd8\xff" + bytes(64)
    ref = await remote.resolve(world.bob, "evil")
    digest = evil.entries[0]["hash"]
    with pytest.raises(ProtocolError, match="not a small JPEG"):
        await browse.thumbnail(world.bob, ref, digest)
    evil.thumb = jpeg_claiming(320, 320)
    assert await browse.thumbnail(world.bob, ref, digest) == evil.thumb


async def test_a_listing_that_never_ends_is_cut(world: World, evil: HostileServer) -> None:
    serve_files(evil, ("a.txt", b"a"))
    evil.next_page = "a.txt"  # "more after a.txt", forever
    code, _, stderr = await cli(world.bob.home.path, "catalog", "contents", "evil", timeout=30)
    assert code == 1
    assert "out of order" in stderr
    assert evil.seen.count("contents") == 2


HOSTILE_TEXT = "[/x]bad[link=https://evil.example]click[/link]\x1b]0;pwned\x07\x1b[8mhidden\u202e"


async def test_peer_text_reaches_the_terminal_as_text(world: World, evil: HostileServer) -> None:
    evil.entries = [entry(f"{HOSTILE_TEXT[:40]}.txt", b"x", description=HOSTILE_TEXT)]
    evil.entries[0]["path"] = "[/x]bad[link=https]x.txt"
    evil.files = {evil.entries[0]["hash"]: b"x"}
    code, stdout, stderr = await cli(world.bob.home.path, "catalog", "contents", "evil")
    assert code == 0, stderr
    assert "[/x]bad[link=https]x.txt" in stdout  # shown as it is, not as markup
    assert "\x1b" not in stdout
    assert "\u202e" not in stdout
    assert "\x07" not in stdout
    assert "\\x1b]0;pwned\\x07" in stdout
    assert "\\u202e" in stdout
    assert "\x1b]8;" not in stdout  # no hidden hyperlink


async def test_a_servers_error_text_is_one_visible_line(world: World, evil: HostileServer) -> None:
    async def refuse(msg: object) -> None:
        await msg.respond(wire.fail(400, "line one\n\x1b[2Jline two"))  # type: ignore[attr-defined]

    await evil.stop()
    sub = await evil.nc.subscribe("*.natster.catalog.evil.*", cb=refuse)
    try:
        code, _, stderr = await cli(world.bob.home.path, "catalog", "contents", "evil")
    finally:
        await sub.unsubscribe()
        await evil.start()
    assert code == 1
    assert stderr.count("\n") == 1
    assert "\x1b" not in stderr
    assert "line one\\nline two" not in stderr
    assert "\\x1b[2J" in stderr


async def test_an_unshare_stops_a_transfer_read_through_another_catalog(
    world: World, tmp_path: Path
) -> None:
    """Bob opens a transfer in "films", then asks its chunks through "second", still shared."""
    from natster.catalog import Catalogs

    (world.media / "big.bin").write_bytes(os.urandom(CHUNK * 4))
    second = tmp_path / "second"
    second.mkdir()
    (second / "x.txt").write_text("x")
    with Catalogs(world.alice.home.path) as mine:
        mine.rescan("films")
        mine.new("second", "", second)
    await world.server.stop()
    from natster.services.catalog_service import CatalogServer

    world.server = CatalogServer(world.alice, world.alice.home.path, ["films", "second"])
    await world.server.start()
    for name in ("films", "second"):
        await remote.share(world.alice, name, key(world.bob))
        await remote.import_catalog(world.bob, name, key(world.alice))
    films = await remote.resolve(world.bob, "films")
    big = await find_entry(world.bob, films, "big.bin")

    nc, me = world.bob.connection, key(world.bob)
    xkey = XKeyPair()
    opened = await request(
        nc, films.subject(me, endpoints.TRANSFER_OPEN), {"hash": big.hash, "xkey": xkey}
    )
    transfer = str(opened["transfer"])
    first = await nc.request(
        films.subject(me, endpoints.TRANSFER_CHUNK), chunk_body(transfer, 0), timeout=5
    )
    assert first.data.startswith(b"xkv1")

    await remote.unshare(world.alice, "films", key(world.bob))
    second_ref = await remote.resolve(world.bob, "second")
    # The films import is gone; the attack goes through the catalog still shared.
    reply = await nc.request(
        second_ref.subject(me, endpoints.TRANSFER_CHUNK), chunk_body(transfer, 1), timeout=5
    )
    assert not reply.data.startswith(b"xkv1")
    assert json.loads(reply.data)["code"] == 404


def XKeyPair() -> str:
    from natster.security import XKey

    return XKey.create().public_key


def chunk_body(transfer: str, index: int) -> bytes:
    return json.dumps({"transfer": transfer, "index": index}).encode()


async def request(nc: object, subject: str, body: dict[str, object]) -> dict[str, object]:
    reply = await nc.request(subject, json.dumps(body).encode(), timeout=5)  # type: ignore[attr-defined]
    data = wire.unwrap(reply.data)
    assert isinstance(data, dict)
    return data


_ = asyncio


async def test_a_share_flood_is_cut_off(world: World) -> None:
    """Carol floods bob's inbox with shares, as fast as raw requests go."""
    nc = world.carol.connection
    subject = "natster.global.events.put"
    codes = []
    began = time.monotonic()
    for i in range(limits.EVENTS_RATE.burst + 20):
        data = {"owner": key(world.carol), "catalog": f"spam{i}", "target": key(world.bob)}
        body = json.dumps({"type": "natster.catalog.shared", "data": data}).encode()
        codes.append(json.loads((await nc.request(subject, body, timeout=10)).data)["code"])
    # the burst, and what the rate gave back while the flood went on (a slow machine's
    # flood lasts longer), and no more
    refilled = (time.monotonic() - began) * limits.EVENTS_RATE.per_minute / 60
    assert codes.count(200) <= limits.EVENTS_RATE.burst + int(refilled) + 1
    assert codes[-1] == 429
    spam = [r for r in await remote.inbox(world.bob) if r.catalog.startswith("spam")]
    assert len(spam) == codes.count(200)
    assert (await world.alice.my_shares()) is not None  # others are served as before


async def _closed(nc: _nats.Client) -> bool:
    return not nc.is_connected


async def test_accounts_carry_explicit_limits(world: World) -> None:
    resolver = world.hub.hub.resolver
    assert resolver is not None
    claims = await resolver.lookup(key(world.bob))
    assert claims is not None
    got = claims.nats.limits
    assert (got.conn, got.subs, got.payload, got.leaf) == (
        limits.ACCOUNT_CONNECTIONS,
        limits.ACCOUNT_SUBSCRIPTIONS,
        limits.ACCOUNT_PAYLOAD,
        0,
    )
    assert claims.nats.exports == []  # his catalog servers answer from his serving account
    serving = await resolver.lookup(serving_of(world.hub, key(world.bob)))
    assert serving is not None
    assert serving.nats.limits.payload == limits.HUB_MAX_PAYLOAD
    assert serving.nats.imports == []  # so its large messages reach no service
    signup = await resolver.lookup(world.hub.dir.load().accounts["signup"])
    assert signup is not None
    assert signup.nats.limits.payload == limits.SIGNUP_PAYLOAD


async def test_no_account_can_send_the_services_a_large_message(world: World) -> None:
    """Carol signs herself a user with no payload limit of its own and sends the global
    service a request over her account's limit; then she tries from her serving
    account, whose messages may be large."""
    mine = jwt.user_claims(USER.public_key, name="flood")
    creds = Creds(jwt=jwt.encode(mine, world.carol.home.account_key()), seed=USER.seed)
    trust = world.carol.home.trust(world.carol.context)
    nc = await _nats.connect(world.hub.info.local_url, creds, name="flood", trust=trust)
    service_nc = world.hub.platform._nc
    assert service_nc is not None
    received = service_nc.stats["in_bytes"]
    try:
        await nc.publish(subjects.global_local("events.put"), b"x" * 1024 * 1024)
        with contextlib.suppress(Exception):  # nats-server cuts her off at once
            await nc.flush(timeout=2)
        await eventually(lambda: _closed(nc))
    finally:
        await nc.close()
    assert "maximum payload" in str(nc.last_error).lower()
    link = await world.carol.open_serving()
    try:
        assert link.max_payload == limits.HUB_MAX_PAYLOAD
        with pytest.raises(nats.errors.NoRespondersError):  # no service there at all
            await link.connection.request(
                subjects.global_local("events.put"), b"x" * 1024 * 1024, timeout=2
            )
    finally:
        await link.close()
    assert service_nc.stats["in_bytes"] - received < limits.ACCOUNT_PAYLOAD  # none of it
    assert service_nc.stats["reconnects"] == 0
    assert (await world.alice.my_shares()) is not None  # the service answers as before


@pytest.mark.parametrize(
    "copy",
    [
        *("bob", "BOB", " Bob ", "ｂｏｂ", "hub"),
        *("b\u043eb", "b0b", "\u0430lice", "aIice", "ALICE", "a1ice", "\U0001d51eli\u0441e"),
    ],
)
async def test_nobody_can_take_a_name_already_held(world: World, tmp_path: Path, copy: str) -> None:
    """Mallory joins the hub as "bob" or "alice", or as a name that looks like one (Unicode
    TR39's confusables: a Cyrillic о or а, a capital I for an l, a digit for a letter, a
    mathematical 𝔞): refused, and her invite survives."""
    from natster.client import Home, join
    from natster.errors import RemoteError

    invite = await world.hub.invite()
    with pytest.raises(RemoteError, match="taken") as taken:
        await join(invite, home=Home(tmp_path / "mallory"), name=copy)
    assert taken.value.status == 409
    joined = await join(invite, home=Home(tmp_path / "mallory2"), name="mallory")
    assert joined.name == "mallory"  # the same invite still works


async def test_a_rename_takes_no_look_alike_and_keeps_its_own(world: World) -> None:
    """Renames are held to the same rule; a name's own look-alikes stay with it."""
    from natster.errors import RemoteError

    with pytest.raises(RemoteError, match="taken"):
        await world.carol.update_account("b\u043eb")  # a Cyrillic о
    assert (await world.carol.update_account("CAROL")).name == "CAROL"  # her own, in capitals
    assert (await world.carol.update_account("Carol")).name == "Carol"
    with pytest.raises(RemoteError, match="taken"):  # still hers: "CAROL" released nothing
        await world.bob.update_account("caro1")


async def test_descriptions_are_printable_where_they_are_set(world: World, tmp_path: Path) -> None:
    """A description goes to others' terminals: a raw heartbeat carrying escape codes is
    refused by the global service, and natster refuses to store one in the first place."""
    from natster.catalog import Catalogs
    from natster.errors import CatalogError

    body = {"catalog": "evil", "revision": 1, "description": "hi\x1b]0;pwned\x07"}
    reply = await world.carol.connection.request(
        "natster.global.heartbeats.put", json.dumps(body).encode(), timeout=5
    )
    answer = json.loads(reply.data)
    assert answer["code"] == 400
    assert "printable" in answer["error"]
    (tmp_path / "m").mkdir()
    with Catalogs(world.carol.home.path) as mine, pytest.raises(CatalogError, match="printable"):
        mine.new("evil", "line\nbreak", tmp_path / "m")
