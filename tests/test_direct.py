"""A catalog server's direct endpoint lets in ticket holders only: each attack made
with nats-py itself, as a hostile receiver would (no ticket, a used one, an expired one,
another account's, a forged proof, another transfer's subjects)."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import ssl
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest
from nats.aio.client import Client

from natster import _nats, endpoints, subjects, wire
from natster._nats import Login, Trust
from natster.catalog import Catalogs
from natster.client import NatsterClient, remote
from natster.client.download import download
from natster.client.transfer import Transfer
from natster.security import Creds, KeyKind, KeyPair, XKey
from natster.security import jwt as jwtlib
from natster.services.catalog_service import CatalogServer
from natster.services.direct import DirectEndpoint, TicketBook, direct_endpoint, ticket_login

from .conftest import RunningHub, eventually, free_port


@pytest.fixture
async def endpoint(tmp_path: Path) -> AsyncIterator[DirectEndpoint]:
    direct = DirectEndpoint(
        tmp_path / "direct", free_port(), hosts=["127.0.0.1"], tickets=TicketBook(ttl=1.0)
    )
    await direct.start()

    async def answer(msg: Any) -> None:
        await msg.respond(b"chunk of " + msg.subject.encode())

    assert direct.connection is not None
    await direct.connection.subscribe(subjects.DIRECT_CHUNKS, cb=answer)  # as a server would
    await direct.connection.flush()
    try:
        yield direct
    finally:
        await direct.stop()


async def _connect(direct: DirectEndpoint, login: Login | None, transfer: str) -> Client:
    context = ssl.create_default_context(cadata=direct.cert_pem.decode())
    return await nats.connect(
        direct.urls[0],
        user=login.user if login else None,
        password=login.password if login else None,
        tls=context,
        tls_handshake_first=True,
        inbox_prefix=subjects.direct_inbox(transfer),
        allow_reconnect=False,
        connect_timeout=3,
    )


def _creds(client: NatsterClient) -> Creds:
    return client.home.creds()


async def _refused(direct: DirectEndpoint, login: Login | None, transfer: str = "t1") -> None:
    """nats-server turns the connection away on the callout's word."""
    with pytest.raises(nats.errors.Error, match=r"(?i)authorization violation"):
        await (await _connect(direct, login, transfer)).close()


async def test_a_ticket_holder_reads_its_transfer_and_nothing_else(
    endpoint: DirectEndpoint, bob: NatsterClient
) -> None:
    ticket = endpoint.tickets.issue(bob.account, "t1")
    nc = await _connect(endpoint, ticket_login(ticket.secret, _creds(bob)), "t1")
    try:
        reply = await nc.request("natster.direct.t1.chunk", b"", timeout=3)
        assert reply.data == b"chunk of natster.direct.t1.chunk"
        with pytest.raises(nats.errors.Error):  # another transfer: not its to ask
            await nc.request("natster.direct.t2.chunk", b"", timeout=1)
    finally:
        await nc.close()
    await _refused(endpoint, ticket_login(ticket.secret, _creds(bob)))  # used: once only


async def test_no_ticket_no_entry(endpoint: DirectEndpoint, bob: NatsterClient) -> None:
    await _refused(endpoint, None)
    await _refused(endpoint, Login("made-up", "x~y"))
    await _refused(endpoint, ticket_login("never-issued", _creds(bob)))


async def test_an_expired_ticket_is_refused(endpoint: DirectEndpoint, bob: NatsterClient) -> None:
    ticket = endpoint.tickets.issue(bob.account, "t1")
    await asyncio.sleep(1.2)  # the fixture's tickets last 1 s
    await _refused(endpoint, ticket_login(ticket.secret, _creds(bob)))


async def test_another_accounts_ticket_is_refused(
    endpoint: DirectEndpoint, alice: NatsterClient, bob: NatsterClient
) -> None:
    ticket = endpoint.tickets.issue(bob.account, "t1")
    await _refused(endpoint, ticket_login(ticket.secret, _creds(alice)))  # alice's own proof
    forged = KeyPair.create(KeyKind.USER)  # bob's JWT, signed with a key that is not his
    stolen = Creds(jwt=_creds(bob).jwt, seed=forged.seed)
    ticket = endpoint.tickets.issue(bob.account, "t1")
    await _refused(endpoint, ticket_login(ticket.secret, stolen))


async def _films_served_directly(
    alice: NatsterClient, bob: NatsterClient, tmp_path: Path, size: int
) -> tuple[CatalogServer, DirectEndpoint, remote.CatalogRef, bytes]:
    media = tmp_path / "media"
    media.mkdir()
    film = os.urandom(size)
    (media / "film.mp4").write_bytes(film)
    with Catalogs(alice.home.path) as mine:
        mine.new("films", "", media)
    direct = DirectEndpoint(tmp_path / "direct", free_port(), hosts=["127.0.0.1"])
    server = CatalogServer(alice, alice.home.path, ["films"], direct=direct)
    await server.start()
    await remote.share(alice, "films", bob.account)
    await remote.import_catalog(bob, "films", alice.account)
    return server, direct, await remote.resolve(bob, "films"), film


async def test_a_catalog_server_serves_an_open_transfer_directly_until_unshared(
    hub: RunningHub, alice: NatsterClient, bob: NatsterClient, tmp_path: Path
) -> None:
    """The transfer opens through the hub; `transfer-direct` hands bob the endpoint's
    address, certificate and a ticket; his chunks then come straight from alice's
    machine, sealed as through the hub; her unshare ends the transfer and closes his
    connection there within 2 s."""
    server, direct, ref, film = await _films_served_directly(alice, bob, tmp_path, 3 * 65536 + 100)
    try:
        receiver = XKey.create()
        opened = await remote.ask(
            bob,
            ref,
            endpoints.TRANSFER_OPEN,
            wire.TransferOpenRequest(xkey=receiver.public_key, path="film.mp4", chunk_size=65536),
        )
        offer = await remote.ask(
            bob,
            ref,
            endpoints.TRANSFER_DIRECT,
            wire.TransferDirectRequest(transfer=opened.transfer),
        )
        assert offer.urls == direct.urls
        nc = await _nats.connect(
            offer.urls[0],
            ticket_login(offer.ticket, bob.home.creds()),
            name="bob-direct",
            trust=Trust(offer.cert.encode(), hostname="127.0.0.1"),
            inbox_prefix=subjects.direct_inbox(opened.transfer),
        )
        channel = receiver.channel(opened.xkey)

        async def chunk(index: int) -> bytes:
            asked = wire.TransferChunkRequest(transfer=opened.transfer, index=index)
            sealed = await _nats.request_raw(
                nc, subjects.direct_chunk(opened.transfer), asked.model_dump_json().encode()
            )
            if sealed[:1] == b"{":  # an error comes as an envelope, as through the hub
                wire.unwrap(sealed)
            return bytes(channel.open(sealed, aad=wire.chunk_aad(opened.transfer, index)))

        try:
            got = b"".join([await chunk(i) for i in range(opened.chunks)])
            assert got == film
            assert nc.is_connected
            await remote.unshare(alice, "films", bob.account)

            async def cut_off() -> bool:  # the endpoint closed his connection
                return not nc.is_connected

            await eventually(cut_off, 2.0, "bob's direct connection closed after the unshare")
            assert opened.transfer not in server.transfers.ids  # and the transfer ended
        finally:
            await nc.close()
    finally:
        await server.stop()
    assert not direct.folder.exists()  # its certificate's key went with it


async def _hub_sent(hub: RunningHub) -> int:
    varz = await hub.system_request("$SYS.REQ.SERVER.PING.VARZ")
    return int(varz["data"]["out_bytes"])


async def test_a_download_goes_direct_and_the_hub_carries_almost_none_of_it(
    hub: RunningHub, alice: NatsterClient, bob: NatsterClient, tmp_path: Path
) -> None:
    size = 32 * 1024 * 1024
    server, _, ref, film = await _films_served_directly(alice, bob, tmp_path, size)
    try:
        before = await _hub_sent(hub)
        transfer = await Transfer(bob, ref, path="film.mp4").open()
        assert await transfer.settled() == "direct"
        await download(bob, ref, transfer, tmp_path / "got.mp4")
        relayed = await _hub_sent(hub) - before
        assert (tmp_path / "got.mp4").read_bytes() == film
        assert transfer.route == "direct"
        assert relayed < size / 100, relayed  # the hub carried under 1% of the film
    finally:
        await server.stop()


async def test_without_a_way_through_the_hub_carries_it_within_a_second(
    hub: RunningHub, alice: NatsterClient, bob: NatsterClient, tmp_path: Path
) -> None:
    server, direct, ref, film = await _films_served_directly(alice, bob, tmp_path, 300_000)
    try:
        direct.hosts = ["192.0.2.1"]  # an address with no route to it (TEST-NET-1)
        began = time.monotonic()
        transfer = await Transfer(bob, ref, path="film.mp4").open()
        assert await transfer.settled() == "via hub"
        assert time.monotonic() - began < 1.0  # given up on within a second
        await download(bob, ref, transfer, tmp_path / "got.mp4")
        assert (tmp_path / "got.mp4").read_bytes() == film
    finally:
        await server.stop()


async def test_the_direct_endpoint_going_away_mid_download_leaves_the_hub_to_finish(
    hub: RunningHub, alice: NatsterClient, bob: NatsterClient, tmp_path: Path
) -> None:
    server, direct, ref, film = await _films_served_directly(alice, bob, tmp_path, 4 * 1024**2)
    try:
        transfer = await Transfer(bob, ref, path="film.mp4").open()
        assert await transfer.settled() == "direct"
        got = bytearray()
        half = transfer.chunks // 2
        async for _, data in transfer.fetch(0, half, flow=transfer.flow()):
            got += data
        await direct.stop()  # the owner's endpoint is gone (its server stopped)
        async for _, data in transfer.fetch(half, transfer.chunks, flow=transfer.flow()):
            got += data
        assert transfer.direct_bytes > 0
        assert transfer.hub_bytes > 0  # the rest came through the hub
        assert re.fullmatch(r"direct \(\d+% via hub\)", transfer.route), transfer.route
        assert bytes(got) == film
        await transfer.close()
    finally:
        await server.stop()


async def test_an_owner_cannot_use_a_receivers_proof_to_sign_in_as_them(
    hub: RunningHub, bob: NatsterClient
) -> None:
    """A hostile owner makes the "ticket" the hub's nonce and has bob's receiver sign
    it: what bob signs is the ticket behind a fixed prefix, so it answers no nonce, and
    the hub refuses bob's JWT with it."""
    creds = bob.home.creds()

    def bobs_proof_of(nonce: str) -> bytes:
        login = ticket_login(nonce, creds)  # what bob's receiver would send the owner
        return login.password.rpartition("~")[2].encode()

    trust = hub.dir.trust()
    assert trust is not None
    assert trust.ca_pem is not None
    ca = trust.ca_pem.decode()

    async def signing_in(sign: Callable[[str], bytes]) -> Client:
        return await nats.connect(
            hub.info.local_url,
            user_jwt_cb=lambda: creds.jwt.encode(),
            signature_cb=sign,
            tls=ssl.create_default_context(cadata=ca),
            tls_handshake_first=True,
            tls_hostname=trust.hostname,
            allow_reconnect=False,
            connect_timeout=3,
        )

    def bobs_own(nonce: str) -> bytes:  # the harness is right: bob's real answer gets in
        signed = KeyPair.from_seed(creds.seed).sign(nonce.encode())
        return base64.urlsafe_b64encode(signed).rstrip(b"=")

    await (await signing_in(bobs_own)).close()
    with pytest.raises(nats.errors.Error, match=r"(?i)authorization violation"):
        await signing_in(bobs_proof_of)


async def test_a_stolen_ticket_is_no_use_with_a_signing_key_made_up_for_its_account(
    endpoint: DirectEndpoint, bob: NatsterClient
) -> None:
    """carol has bob's ticket: she makes a user JWT saying bob's account issued it
    through a "signing key" that is her own. natster's users have no signing keys, so a
    JWT naming an issuer account is refused, not believed."""
    ticket = endpoint.tickets.issue(bob.account, "t1")
    carol_key = KeyPair.create(KeyKind.ACCOUNT)  # stands in for a signing key of bob's
    carol_user = KeyPair.create(KeyKind.USER)
    claims = jwtlib.user_claims(carol_user.public_key, name="carol")
    claims.nats.issuer_account = bob.account
    forged = Creds(jwt=jwtlib.encode(claims, carol_key), seed=carol_user.seed)
    await _refused(endpoint, ticket_login(ticket.secret, forged))


def test_each_catalog_server_has_a_folder_of_its_own_and_a_crashs_is_removed(
    tmp_path: Path,
) -> None:
    """Two `catalog serve` of one home each keep their endpoint's key apart; what one
    that crashed left (a per-run key) goes when the next starts."""
    folder = tmp_path / "direct"
    dead = folder / "run-999999999"  # no process has that number
    dead.mkdir(parents=True)
    (dead / "key.pem").write_text("a dead run's key")
    endpoint = direct_endpoint(folder, 4999, off=False)
    assert endpoint is not None
    assert endpoint.folder == folder / f"run-{os.getpid()}"
    assert not dead.exists()
    assert direct_endpoint(folder, 4999, off=True) is None
