"""The typed async API over NATS that the CLI and the web UI both call."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, Unpack

from natster import _nats, endpoints, limits, subjects, wire
from natster import events as ev
from natster._nats import Client
from natster.endpoints import Endpoint
from natster.errors import CredentialsRefused, NotPermitted, ReadOnlyDevice, RemoteError

from ._budget import ByteBudget
from ._service_names import ACCOUNT_SERVICE, GLOBAL_SERVICE
from .context import Context, Home
from .serving import Serve, ServingLink, serve_nothing

__all__ = ["ACCOUNT_SERVICE", "GLOBAL_SERVICE", "NatsterClient", "account_info"]


async def account_info(nc: Client) -> wire.AccountInfo:
    """What the hub knows of the account ``nc`` is connected as."""
    info = endpoints.ACCOUNT_INFO
    data = await _nats.request(nc, info.local(), b"{}", what=ACCOUNT_SERVICE)
    return info.parse(data, ACCOUNT_SERVICE)


class NatsterClient:
    """A connection to the hub as this machine's user."""

    def __init__(
        self, home: Home, context: Context, nc: Client, patience: float | None = None
    ) -> None:
        self.home = home
        self.context = context
        self._nc = nc
        # how long a transfer waits for a lost hub before it gives up (see reconnected)
        self.patience = limits.STALL_S * 2 if patience is None else patience
        # Chunk replies owed to this connection, all transfers together (see _budget).
        self.receive_budget = ByteBudget(limits.RECEIVE_BUDGET)
        # heartbeat fields added after the first version that the hub said it takes
        self._heartbeat_takes: frozenset[str] = frozenset()

    @classmethod
    async def connect(
        cls, home: Home | None = None, *, reconnect: bool = False, wait: float | None = None
    ) -> NatsterClient:
        """Connect as this machine's user; long-running servers pass ``reconnect``; a
        one-shot download that rides out a hub outage of up to ``wait`` seconds, ``wait``."""
        home = home or Home.default()
        context = home.load()
        try:
            nc = await _nats.connect(
                context.url,
                home.creds(),
                name=f"natster-{context.name}",
                trust=home.trust(context),
                reconnect=reconnect,
                patient=wait is not None,
            )
        except CredentialsRefused as exc:
            if context.device is None:
                raise
            raise CredentialsRefused(
                f"the hub no longer accepts this device ({context.device!r} of "
                f"{context.name}): it was revoked or has expired; add it again from the "
                "machine holding the account key (natster device add)"
            ) from exc
        return cls(home, context, nc, patience=wait)

    async def close(self) -> None:
        await self._nc.close()

    async def __aenter__(self) -> NatsterClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def connection(self) -> Client:
        """The raw NATS connection, for what serves on it (the catalog server's micro
        service) and for tests that speak the wire themselves. natster's client modules
        go through the methods below, where nats-py's errors become natster's."""
        return self._nc

    async def open_serving(
        self, serve: Serve = serve_nothing, bulk: Serve | None = None
    ) -> ServingLink:
        """A connection in my serving account, where my catalog servers answer: ``serve``
        starts them on it, and on each connection that replaces it (client/serving.py);
        with ``bulk``, a second one beside it for what ``bulk`` serves (chunks)."""
        return await ServingLink.open(self._nc, self.home, self.context, serve, bulk)

    @property
    def reconnects(self) -> int:
        """How often the connection came back since it was made."""
        return int(self._nc.stats.get("reconnects", 0))

    @property
    def connected(self) -> bool:
        """The hub is reachable now (False while reconnecting, and once closed)."""
        return bool(self._nc.is_connected)

    async def reconnected(self) -> bool:
        """Wait while the connection reconnects: True once it is back, False if it closed
        or stayed away longer than :attr:`patience`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.patience
        while loop.time() < deadline:
            if self._nc.is_connected:
                return True
            if self._nc.is_closed:
                return False
            await asyncio.sleep(0.2)
        return False

    async def request(
        self, subject: str, payload: bytes, **options: Unpack[_nats.RequestOptions]
    ) -> Any:
        """A request to a natster service: its answer's data, or its error raised."""
        with self._rights():
            return await _nats.request(self._nc, subject, payload, **options)

    async def request_raw(
        self, subject: str, payload: bytes, **options: Unpack[_nats.RequestOptions]
    ) -> bytes:
        """A request whose reply is returned as it came (a sealed chunk, or an envelope)."""
        with self._rights():
            return await _nats.request_raw(self._nc, subject, payload, **options)

    @contextlib.contextmanager
    def _rights(self) -> Iterator[None]:
        """A request this device's JWT denies says so in words (nats-server refused it)."""
        try:
            yield
        except NotPermitted as exc:
            if self.context.rights == "read-only":
                raise ReadOnlyDevice(
                    "this device is read-only: do it from a signed-in machine "
                    "(one that holds the account key, or a device added without --read-only)"
                ) from exc
            raise

    async def tell(self, subject: str, payload: bytes) -> None:
        """A message that needs no answer: sent, and not waited for."""
        await _nats.tell(self._nc, subject, payload)

    async def account_info(self) -> wire.AccountInfo:
        return await account_info(self._nc)

    async def update_account(self, name: str | None = None) -> wire.AccountInfo:
        """Ask the hub to bring my account JWT up to its standard (and rename me)."""
        request = wire.AccountUpdateRequest(name=name)
        data = await self.request(
            endpoints.ACCOUNT_UPDATE.local(),
            request.model_dump_json(exclude_none=True).encode(),
            what=ACCOUNT_SERVICE,
        )
        return endpoints.ACCOUNT_UPDATE.parse(data, ACCOUNT_SERVICE)

    async def rename(self, name: str) -> str:
        """Take ``name`` on the hub (unique there: a taken one is refused with names like
        it that are free) and remember it here; returns the name it replaced."""
        before = self.context.name
        info = await self.update_account(name)
        self.context = self.context.model_copy(update={"name": info.name})
        self.home.save_context(self.context)
        return before

    async def leave(self) -> wire.LeaveReply:
        """Delete my account from the hub, then forget it here (its keys and credentials
        go; this machine's catalogs stay). On the hub every share I gave or was given
        ends, others' imports of my catalogs go, my name is free, and a moment later my
        every connection is cut: this client is unusable after it."""
        if self.context.device is not None:
            raise NotPermitted(
                "a device cannot leave the hub: run `natster leave` on the machine that "
                "holds the account key"
            )
        key = self.home.account_key()
        at = int(time.time())
        proof = key.sign(wire.leave_proof(key.public_key, at))
        request = wire.LeaveRequest(
            at=at, signature=base64.urlsafe_b64encode(proof).decode().rstrip("=")
        )
        data = await self.request(
            endpoints.ACCOUNT_LEAVE.local(), request.encode(), what=ACCOUNT_SERVICE
        )
        reply = endpoints.ACCOUNT_LEAVE.parse(data, ACCOUNT_SERVICE)
        self.home.forget_account()
        return reply

    # --- the global service ------------------------------------------------------------
    async def _global(self, endpoint: Endpoint[Any], body: wire.Request | None = None) -> Any:
        payload = b"{}" if body is None else body.encode()
        subject = endpoint.local()
        try:
            return await self.request(subject, payload, what=GLOBAL_SERVICE)
        except RemoteError as exc:
            if exc.status not in (403, 404) or "not initialized" not in str(exc):
                raise
        # Created while the global service was down: have the hub announce us, retry once.
        await self.update_account()
        return await self.request(subject, payload, what=GLOBAL_SERVICE)

    async def _put(self, event_type: str, data: dict[str, Any]) -> wire.EventsPutReply:
        body = wire.EventsPutRequest(type=event_type, data=data)
        return endpoints.EVENTS_PUT.parse(
            await self._global(endpoints.EVENTS_PUT, body), GLOBAL_SERVICE
        )

    # The record_* methods only write the event. The user's actions are natster.client.
    # remote's share, unshare, decline and block, which also check, resolve names and
    # revoke imports; these are the event each of them records.
    async def record_share(self, catalog: str, target: str) -> wire.EventsPutReply:
        data = {"owner": self.context.account, "catalog": catalog, "target": target}
        return await self._put(ev.CATALOG_SHARED, data)

    async def record_unshare(self, catalog: str, target: str) -> wire.EventsPutReply:
        data = {"owner": self.context.account, "catalog": catalog, "target": target}
        return await self._put(ev.CATALOG_UNSHARED, data)

    async def record_decline(self, owner: str, catalog: str) -> wire.EventsPutReply:
        """Turn down a share in my inbox (it ends, as an unshare would)."""
        data = {"owner": owner, "catalog": catalog, "target": self.context.account}
        return await self._put(ev.CATALOG_DECLINED, data)

    async def record_block(self, other: str, *, blocked: bool = True) -> wire.EventsPutReply:
        """Take no more shares from ``other`` (``blocked=False``: take them again)."""
        data = {"account": self.context.account, "other": other}
        return await self._put(ev.ACCOUNT_BLOCKED if blocked else ev.ACCOUNT_UNBLOCKED, data)

    async def record_forget(self, owner: str, catalog: str) -> wire.EventsPutReply:
        """Take an imported catalog out of my library (it is in my inbox again)."""
        data = {"owner": owner, "catalog": catalog, "importer": self.context.account}
        return await self._put(ev.CATALOG_FORGOTTEN, data)

    async def record_import(
        self, owner: str, catalog: str, alias: str | None = None
    ) -> wire.EventsPutReply:
        data = {"owner": owner, "catalog": catalog, "importer": self.context.account}
        if alias is not None and alias != catalog:
            data["alias"] = alias  # a share after an unshare restores it under this name
        return await self._put(ev.CATALOG_IMPORTED, data)

    async def my_shares(self) -> list[wire.ShareRow]:
        rows = await self._global(endpoints.MY_SHARES)
        return endpoints.MY_SHARES.parse_many(rows, GLOBAL_SERVICE)

    async def global_whoami(self) -> wire.GlobalWhoami:
        return endpoints.WHOAMI.parse(await self._global(endpoints.WHOAMI), GLOBAL_SERVICE)

    async def stats(self) -> wire.Stats:
        return endpoints.STATS.parse(await self._global(endpoints.STATS), GLOBAL_SERVICE)

    async def people(self, text: str = "") -> wire.People:
        """Members whose name contains ``text`` (case and accents aside), by name."""
        reply = await self._global(endpoints.PEOPLE, wire.PeopleRequest(text=text))
        return endpoints.PEOPLE.parse(reply, GLOBAL_SERVICE)

    async def validate_name(self, name: str) -> wire.ValidateNameReply:
        reply = await self._global(endpoints.VALIDATE_NAME, wire.ValidateNameRequest(name=name))
        return endpoints.VALIDATE_NAME.parse(reply, GLOBAL_SERVICE)

    @property
    def account(self) -> str:
        return self.context.account

    async def heartbeat(
        self,
        catalog: str,
        revision: int,
        online: bool = True,
        description: str = "",
        transfers: int = 0,
    ) -> None:
        """Say that ``catalog`` is served (``transfers``: how many of its transfers are
        open now, told to a hub that takes it: an older one refuses fields it does not
        know, so it is sent once a reply has listed it)."""
        fields: dict[str, Any] = {}
        if "transfers" in self._heartbeat_takes:
            fields["transfers"] = transfers
        body = wire.HeartbeatRequest(
            catalog=catalog, revision=revision, online=online, description=description, **fields
        )
        try:
            reply = await self._global(endpoints.HEARTBEAT, body)
        except RemoteError as exc:
            if not fields or exc.status != 400:
                raise
            # an older instance of a hub being upgraded: beat as the first version did
            self._heartbeat_takes = frozenset()
            await self.heartbeat(catalog, revision, online, description)
            return
        taken = endpoints.HEARTBEAT.parse(reply, GLOBAL_SERVICE)
        self._heartbeat_takes = frozenset(taken.takes)

    async def otc_generate(self) -> wire.OtcCode:
        reply = await self._global(endpoints.OTC_GENERATE)
        return endpoints.OTC_GENERATE.parse(reply, GLOBAL_SERVICE)

    async def otc_claim(self, code: str, client: str = "") -> wire.OtcClaimed:
        body = wire.OtcClaimRequest(code=code, client=client)
        return endpoints.OTC_CLAIM.parse(
            await self._global(endpoints.OTC_CLAIM, body), GLOBAL_SERVICE
        )

    async def feed(self) -> AsyncIterator[ev.FeedEvent]:
        """The live feed: events about catalogs I own or that are shared with me."""
        subscription = await self._nc.subscribe(f"{subjects.FEED_LOCAL}")
        try:
            async for message in subscription.messages:
                try:
                    yield ev.FeedEvent.model_validate_json(message.data)
                except ValueError:
                    continue  # not ours to crash on
        finally:
            await subscription.unsubscribe()


def whoami(home: Home | None = None) -> dict[str, str]:
    """Who this machine is, from local state alone (works with the hub down)."""
    home = home or Home.default()
    context = home.load()
    return {
        "account": context.account,
        "name": context.name,
        "url": context.url,
        "user": context.user,
        "creds": str(home.creds_file),
        "initialized_at": context.initialized_at,
    }
