"""The direct endpoint: a standalone nats-server on this machine's own addresses that
lets in only the holders of tickets, by auth callout (docs/architecture.md).

It knows nothing of the hub. Two accounts: ``CALLOUT``, where this process answers
nats-server's authorization requests, and ``XFER``, where the catalog server answers
transfers and where each admitted receiver lands, as a user that may ask only its own
transfer's subjects and read only its own inbox. TLS first, with a certificate made at
start for this run alone (its key never leaves the folder, 0700); receivers trust that
certificate and nothing else, as the transfer's answer hands it to them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from natster import _nats, limits, subjects
from natster._fs import PUBLIC_MODE, ensure_dir, write_atomic
from natster._nats import Client, Login, Trust
from natster._net import free_port, is_loopback, lan_address
from natster._quiet import quietly
from natster.errors import JwtError, NatsterError, Refused
from natster.hub.process.binary import find_nats_server
from natster.hub.process.server import NatsServer
from natster.hub.tls import self_signed
from natster.security import Creds, KeyKind, KeyPair
from natster.security import jwt as jwtlib
from natster.security.jwt import (
    AuthorizationRequestNats,
    AuthorizationResponseClaims,
    AuthorizationResponseNats,
)
from natster.security.keys import verify

from .tickets import Ticket, TicketBook

log = logging.getLogger(__name__)

__all__ = ["DirectEndpoint", "direct_endpoint", "ticket_login"]

ACCOUNT = "XFER"  # where transfers are served and receivers land
CLOCK_SKEW_S = 5
CERT_DAYS = 2  # its certificate is made at each start: a run lasts no longer than this
# What the receiver signs is the ticket behind this, never the ticket alone: a ticket is
# the owner's words, and a signature over words the owner chose must not be one a NATS
# server would take for this user's answer to its nonce (that would let the owner sign
# in to the hub as the receiver).
PROOF = b"natster-direct-ticket-proof:"


def proof_of(ticket: str) -> bytes:
    """The bytes a receiver signs to prove its account for ``ticket``."""
    return PROOF + ticket.encode()


def ticket_login(ticket: str, creds: Creds) -> Login:
    """What a receiver presents: the ticket as its user name, and as its password its
    user JWT with the ticket (behind ``PROOF``) signed by that user's key: proof of the
    account."""
    user = KeyPair.from_seed(creds.seed)
    signature = base64.urlsafe_b64encode(user.sign(proof_of(ticket))).decode().rstrip("=")
    return Login(user=ticket, password=f"{creds.jwt}~{signature}")


class DirectEndpoint:
    """Start with :meth:`start` (its URLs and certificate then set), stop with :meth:`stop`."""

    def __init__(
        self,
        folder: Path,
        port: int,
        *,
        hosts: list[str],
        tickets: TicketBook | None = None,
        binary: str | None = None,
        on_demand: bool = False,
    ) -> None:
        self.folder = folder
        self.port = port  # 0: one free at start
        self.hosts = hosts  # the addresses it listens on and that receivers are told
        # started by the first transfer that asks for it, not with the catalog server
        self.on_demand = on_demand
        self.tickets = tickets or TicketBook()
        self._binary = binary
        self._issuer = KeyPair.create(KeyKind.ACCOUNT)
        self._passwords = {
            "callout": secrets.token_urlsafe(24),
            "server": secrets.token_urlsafe(24),
            "system": secrets.token_urlsafe(24),
        }
        self._server: NatsServer | None = None
        self._callout: Client | None = None
        self._system: Client | None = None  # closes a receiver's connections (cut_off)
        self._admitted: set[str] = set()  # transfers someone was let in for
        self.connection: Client | None = None  # the catalog server's, in XFER
        self.cert_pem = b""

    @property
    def urls(self) -> list[str]:
        return [f"tls://{_bracketed(host)}:{self.port}" for host in self.hosts]

    def trust(self) -> Trust:
        """What a receiver believes: this run's certificate alone."""
        return Trust(self.cert_pem, hostname=self.hosts[0])

    @property
    def started(self) -> bool:
        return self.connection is not None

    async def start(self) -> None:
        if self.port == 0:
            self.port = free_port(self.hosts[0])
        ensure_dir(self.folder)
        self.folder.chmod(0o700)
        self.cert_pem, key_pem = self_signed(
            [*self.hosts, "127.0.0.1"], "natster direct endpoint", CERT_DAYS
        )
        write_atomic(self.folder / "cert.pem", self.cert_pem, PUBLIC_MODE)
        write_atomic(self.folder / "key.pem", key_pem)  # 0600
        conf = self.folder / "nats.conf"
        write_atomic(conf, self._config())  # 0600: it names the passwords
        self._server = NatsServer(
            find_nats_server(self._binary),
            conf,
            self.folder / "nats.log",
            self.folder / "nats.stderr",
        )
        await self._server.start()
        url, trust = self.urls[0], self.trust()  # where it listens (one address: that one)
        try:
            self._callout = await self._server.wait_ready(
                url, self._login("callout"), trust, name="natster-direct-callout"
            )
            await self._callout.subscribe(subjects.AUTH_CALLOUT, cb=self._on_request)
            await self._callout.flush()
            self.connection = await _nats.connect(
                url, self._login("server"), name="natster-direct", trust=trust, reconnect=True
            )
            self._system = await _nats.connect(
                url, self._login("system"), name="natster-direct-system", trust=trust
            )
        except BaseException:
            await self.stop()
            raise

    async def cut_off(self, transfer: str) -> int:
        """End ``transfer`` here: its tickets no longer good, every connection let in for
        it closed (an unshare, or the transfer closed). Returns how many were closed."""
        self.tickets.revoke(transfer)
        if transfer not in self._admitted or self._system is None:
            return 0
        self._admitted.discard(transfer)
        closed = 0
        with quietly(log, "closing a receiver's direct connection"):
            reply = await self._system.request(
                "$SYS.REQ.SERVER.PING.CONNZ",
                json.dumps({"acc": ACCOUNT, "auth": True, "limit": 4096}).encode(),
                timeout=limits.DIRECT_ASK_S,
            )
            answer = json.loads(reply.data)
            server_id = answer["server"]["id"]
            for conn in answer["data"].get("connections") or []:
                if conn.get("authorized_user") == _user_name(transfer):
                    kick = json.dumps({"cid": conn["cid"]}).encode()
                    await self._system.request(
                        f"$SYS.REQ.SERVER.{server_id}.KICK", kick, timeout=limits.DIRECT_ASK_S
                    )
                    closed += 1
        return closed

    def keep_only(self, transfers: set[str]) -> None:
        """Forget what was let in for transfers that are no longer open."""
        self._admitted &= transfers

    async def stop(self) -> None:
        for client in (self.connection, self._callout, self._system):
            if client is not None:
                with quietly(log, "closing a direct endpoint's connection"):
                    await client.close()
        self.connection = self._callout = self._system = None
        if self._server is not None:
            await self._server.stop()
            self._server = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def _login(self, user: str) -> Login:
        return Login(user, self._passwords[user])

    def _config(self) -> str:
        # several addresses: every interface (its certificate names only these)
        listen = "0.0.0.0" if len(self.hosts) > 1 else self.hosts[0]  # noqa: S104
        return "\n".join(
            [
                f'listen: "{_bracketed(listen)}:{self.port}"',
                "server_name: natster-direct",
                f"max_payload: {limits.HUB_MAX_PAYLOAD}",
                f'write_deadline: "{limits.HUB_WRITE_DEADLINE_S:g}s"',
                f'logfile: "{self.folder / "nats.log"}"',
                "tls: {",
                f'  cert_file: "{self.folder / "cert.pem"}"',
                f'  key_file: "{self.folder / "key.pem"}"',
                "  handshake_first: true",
                f"  timeout: {limits.TLS_HANDSHAKE_S}",
                "}",
                "accounts: {",
                _account("CALLOUT", "callout", self._passwords["callout"]),
                _account(ACCOUNT, "server", self._passwords["server"]),
                _account("SYS", "system", self._passwords["system"]),
                "}",
                "system_account: SYS",
                "authorization: {",
                "  auth_callout: {",
                f'    issuer: "{self._issuer.public_key}"',
                "    auth_users: [ callout, server, system ]",
                "    account: CALLOUT",
                "  }",
                "}",
                "",
            ]
        )

    async def _on_request(self, msg: Any) -> None:
        if self._callout is None or not msg.reply:
            return
        try:
            answer = self.answer(msg.data)
        except NatsterError as exc:  # not our server's request: no answer
            log.warning("direct endpoint: ignored an authorization request: %s", exc)
            return
        with quietly(log, "answering an authorization request"):
            await self._callout.publish(msg.reply, answer)

    def answer(self, data: bytes) -> bytes:
        """The signed answer to one authorization request: a user for one transfer, or
        why not."""
        request = jwtlib.decode(
            data.decode("ascii", "replace"),
            AuthorizationRequestNats,
            now=time.time() - CLOCK_SKEW_S,
        )
        if request.sub != self._issuer.public_key:
            raise JwtError("that request is for another callout")
        asked = request.nats
        try:
            ticket = self._admit(asked)
            user = jwtlib.user_claims(
                asked.user_nkey,
                name=_user_name(ticket.transfer),  # connz names it so: see cut_off
                expires=int(time.time() + limits.DIRECT_USER_S),
                pub_allow=[subjects.direct_transfer(ticket.transfer)],
                sub_allow=[f"{subjects.direct_inbox(ticket.transfer)}.>"],
            )
            user.aud = ACCOUNT  # without an operator: the account it lands in, by name
            response = AuthorizationResponseNats(jwt=jwtlib.encode(user, self._issuer))
            self._admitted.add(ticket.transfer)
            log.info("direct endpoint: let in a receiver for transfer %s", ticket.transfer)
        except Refused as exc:
            log.info("direct endpoint: refused %s: %s", asked.client_info.host or "?", exc)
            response = AuthorizationResponseNats(error=str(exc))
        claims = AuthorizationResponseClaims(
            sub=asked.user_nkey, aud=asked.server_id.id, nats=response
        )
        return jwtlib.encode(claims, self._issuer).encode("ascii")

    def _admit(self, asked: AuthorizationRequestNats) -> Ticket:
        """The ticket the client holds, if it proves the account the ticket is for."""
        presented = asked.connect_opts.user or ""
        token, _, signature = (asked.connect_opts.password or "").rpartition("~")
        if not presented or not token or not signature:
            raise Refused("a ticket and its account's proof, please", 403)
        try:
            claims = jwtlib.decode_user(token)
            proof = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        except (JwtError, ValueError) as exc:
            raise Refused("that proof of an account is not one", 403) from exc
        # natster's users are issued by their account's own key, never a signing key: a
        # JWT naming an issuer account would need that account's JWT to be believed
        if claims.nats.issuer_account is not None:
            raise Refused("that proof of an account is not one", 403)
        account = claims.iss
        if not verify(claims.sub, proof_of(presented), proof):
            raise Refused("that proof of an account is not one", 403)
        ticket = self.tickets.redeem(presented)  # spent, whatever comes next
        if account != ticket.account:
            raise Refused("that ticket is another account's", 403)
        return ticket


def direct_endpoint(folder: Path, port: int | None, *, off: bool) -> DirectEndpoint | None:
    """What `catalog serve` (or `serve`) runs: ``off`` (--no-direct) none; ``port``
    (--direct PORT) one on that port, started with the server, on this machine's network
    address; neither, one on a free port started by the first transfer that asks, if
    this machine has an address other than loopback (else no one could reach it)."""
    if off:
        return None
    host = lan_address()
    if port is None and is_loopback(host):
        return None
    _forget_dead_runs(folder)
    mine = folder / f"run-{os.getpid()}"  # two catalog servers of one home: one each
    if port is not None:
        return DirectEndpoint(mine, port, hosts=[host])
    return DirectEndpoint(mine, 0, hosts=[host], on_demand=True)


def _forget_dead_runs(folder: Path) -> None:
    """Remove what endpoints of processes no longer running left (a crash's)."""
    for run in folder.glob("run-*") if folder.is_dir() else ():
        with contextlib.suppress(ValueError, OSError):
            pid = int(run.name.removeprefix("run-"))
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                shutil.rmtree(run, ignore_errors=True)


def _user_name(transfer: str) -> str:
    return f"direct {transfer}"


def _account(name: str, user: str, password: str) -> str:
    return f'  {name}: {{ users: [ {{ user: {user}, password: "{password}" }} ] }}'


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host
