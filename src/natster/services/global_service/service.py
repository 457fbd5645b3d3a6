"""The global service: shared truth of the platform, in its own unprivileged account.

It knows who shares what with whom, who is online, and login codes; nothing about
what catalogs contain. Several instances may run at once (a queue group): state is in
JetStream, each instance mirrors it in memory, and the projectors keep one ordered
history. Callers are identified by the account key NATS put in subject token 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from nats.js.client import JetStreamContext
from nats.micro import add_service
from nats.micro.service import Service, ServiceConfig

from natster import __version__, endpoints, limits, subjects, wire
from natster import events as ev
from natster._bucket import Bucket
from natster._clock import now_iso
from natster._nats import Client, from_leader, mapped
from natster._quiet import quietly
from natster._rate import RateLimit
from natster._service import Handler, add_endpoints, requester_user
from natster.catalog.paths import check_name
from natster.endpoints import Endpoint
from natster.errors import (
    InvalidCatalogName,
    KeyMissing,
    NatsterError,
    Refused,
    ServiceUnavailable,
    WrongRevision,
)
from natster.names import fold
from natster.security import KeyKind, is_public_key

from . import store
from .decisions import Decisions
from .live_view import Mirror
from .projections import ACCOUNTS, PROJECTIONS, SHARES
from .projector import Projector
from .signin import Signins

log = logging.getLogger(__name__)

QUEUE = "natster-global"
HUB_CATALOG = "hub"
OTC_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: easy to read aloud
# heartbeat fields added after the first version: a server sends one once a reply lists it
_HEARTBEAT_TAKES = ["transfers"]

# which projections an event type feeds (events.put waits for them: read your writes)
_FEEDS = {
    ev.ACCOUNT_INITIALIZED: [ACCOUNTS.name],
    ev.CONTEXT_BOUND: [ACCOUNTS.name],
    ev.CATALOG_SHARED: [SHARES.name],
    ev.CATALOG_UNSHARED: [SHARES.name],
    ev.CATALOG_IMPORTED: [SHARES.name],
    ev.CATALOG_DECLINED: [SHARES.name],
    ev.ACCOUNT_BLOCKED: [ACCOUNTS.name],
    ev.ACCOUNT_UNBLOCKED: [ACCOUNTS.name],
    ev.CATALOG_FORGOTTEN: [SHARES.name],
    ev.ACCOUNT_LEFT: [ACCOUNTS.name, SHARES.name],
}


@dataclass(frozen=True)
class _Opened:
    """What start opens before any request is served."""

    presence: Bucket
    otc: Bucket
    signins: Signins
    decisions: Decisions


def _spaced(name: str) -> str:
    """A name as people search it: case and accents folded, spaces collapsed."""
    return " ".join(fold(name).split())


def _asking_user() -> str:
    """The user of the account who sent this request, as nats-server names it."""
    user = requester_user()
    if user is None:  # an account JWT from before `share` (the hub refreshes them at start)
        raise Refused("the hub has not updated this account yet: try again in a minute", 503)
    return user


def _otc_key(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class GlobalService:
    def __init__(
        self,
        nc: Client,
        *,
        accounts_account: str,
        hub_account: str,
        guests_account: str = "",
        replicas: int = 1,
    ) -> None:
        self._nc = nc
        self._replicas = replicas  # of the event log and every bucket (3 in a cluster)
        self._js: JetStreamContext = nc.jetstream()
        # for calls a stream's or consumer's leader answers: asked again, not waited on
        self._js_quick = nc.jetstream(timeout=limits.LEADER_TRY_S)
        self._accounts_account = accounts_account  # the hub's account service
        self._hub_account = hub_account
        self._guests_account = guests_account  # sign-in pages connect there (signup)
        self._event_rate = RateLimit("changes", limits.EVENTS_RATE)
        self._otc_rate = RateLimit("login codes", limits.OTC_RATE)
        self.mirror = Mirror()
        self._stop = asyncio.Event()
        self._paused_until = 0.0  # the projectors hold off until then: a rebuild runs
        self._tasks: list[asyncio.Task[None]] = []
        self._service: Service | None = None
        self._subs: list[Any] = []
        self._opened: _Opened | None = None

    # --- lifecycle -----------------------------------------------------------------------
    @property
    def _started(self) -> _Opened:
        if self._opened is None:  # requests are served only once start opened them
            raise ServiceUnavailable("the global service is starting: try again")
        return self._opened

    async def start(self) -> None:
        await store.ensure_all(self._js, self._replicas)
        decisions = Decisions(
            self._js_quick,
            accounts=await store.view_bucket(self._js, ACCOUNTS.bucket),
            shares=await store.view_bucket(self._js, SHARES.bucket),
            mirror=self.mirror,
            accounts_account=self._accounts_account,
        )
        self._opened = _Opened(
            presence=await store.presence_bucket(self._js),
            otc=await store.otc_bucket(self._js),
            signins=Signins(await store.signin_bucket(self._js), guests=self._guests_account),
            decisions=decisions,
        )
        await self.mirror.start(self._js)
        for projection in PROJECTIONS:
            projector = Projector(self._js, projection, quick=self._js_quick)
            self._tasks.append(asyncio.create_task(projector.run(self._stop, self._rebuilding)))
        self._subs.append(
            await self._nc.subscribe(
                subjects.PRESENCE_REPUBLISH, queue=QUEUE, cb=self._on_presence_change
            )
        )
        self._subs.append(await self._nc.subscribe(subjects.REBUILT, cb=self._on_rebuilt))
        self._subs.append(await self._nc.subscribe(subjects.REBUILDING, cb=self._on_rebuilding))
        service = await add_service(
            self._nc,
            ServiceConfig(
                name=endpoints.Service.GLOBAL.value,
                version=__version__,
                queue_group=QUEUE,
                description="natster's shares, presence and login codes",
            ),
        )
        signins = self._started.signins
        handlers: dict[Endpoint[Any], Handler] = {
            endpoints.EVENTS_PUT: self.events_put,
            endpoints.MY_SHARES: self.my_shares,
            endpoints.WHOAMI: self.whoami,
            endpoints.STATS: self.stats,
            endpoints.PEOPLE: self.people,
            endpoints.VALIDATE_NAME: self.validate_name,
            endpoints.OTC_GENERATE: self.otc_generate,
            endpoints.OTC_CLAIM: self.otc_claim,
            endpoints.HEARTBEAT: self.heartbeat,
            endpoints.SHARES_CHECK: self.check_share,
            endpoints.SIGNIN_OFFER: signins.offer,
            endpoints.SIGNIN_WAIT: signins.wait,
            endpoints.SIGNIN_TAKE: signins.take,
            endpoints.SIGNIN_GRANT: signins.grant,
        }
        await add_endpoints(service, endpoints.GLOBAL, handlers, deadline=limits.SERVICE_DEADLINE_S)
        self._service = service

    async def stop(self) -> None:
        self._stop.set()
        if self._service is not None:
            with quietly(log, "stopping the global service's endpoints"):
                await self._service.stop()
        for sub in self._subs:
            with quietly(log, "unsubscribing"):
                await sub.unsubscribe()
        for task in self._tasks:
            task.cancel()
            with (
                contextlib.suppress(asyncio.CancelledError),
                quietly(log, "stopping a global service task"),
            ):
                await task
        await self.mirror.stop()

    async def _on_rebuilt(self, _msg: Any) -> None:
        self._paused_until = 0.0
        await self.mirror.reload(self._js)

    async def _on_rebuilding(self, _msg: Any) -> None:
        """A rebuild runs (and says so every few seconds): the projectors hold off."""
        self._paused_until = asyncio.get_running_loop().time() + limits.REBUILD_PAUSE_S

    def _rebuilding(self) -> bool:
        return asyncio.get_running_loop().time() < self._paused_until

    # --- events ----------------------------------------------------------------------------
    async def record(self, event: ev.CloudEvent) -> int:
        """Store an event with a JetStream ack; wait until its projections show it."""

        async def publish() -> Any:  # asked again: the Nats-Msg-Id stores it once
            with mapped("the event log"):
                return await self._js_quick.publish(
                    event.stream_subject(),
                    event.model_dump_json().encode(),
                    stream=ev.STREAM,
                    headers={"Nats-Msg-Id": event.id},
                )

        ack = await from_leader(publish)
        await self.mirror.wait_applied(ack.seq, _FEEDS[event.type], limits.READ_YOUR_WRITES_S)
        return int(ack.seq)

    async def events_put(self, subject: str, payload: bytes) -> dict[str, Any]:
        caller = subjects.caller_of(subject)
        request = wire.parse_request(payload, wire.EventsPutRequest)
        if caller not in (self._accounts_account, self._hub_account):  # the hub is not limited
            self._event_rate.spend(caller)
        data_model = ev.DATA.get(request.type)
        if data_model is None:
            raise Refused(f"unknown event type {request.type!r}")
        try:
            data = data_model.model_validate(request.data)
        except ValueError as exc:
            raise Refused(f"invalid {request.type} data: {exc}") from exc
        event = await self._started.decisions.event_for(caller, request.type, data)
        if event is None:
            return wire.EventsPutReply(id=None, seq=None, duplicate=True).model_dump()
        seq = await self.record(event)
        await self._after(event)
        return wire.EventsPutReply(id=event.id, seq=seq).model_dump()

    async def _after(self, event: ev.CloudEvent) -> None:
        """Consequences: the hub catalog for newcomers; the feed for shares."""
        data = event.data
        if event.type == ev.ACCOUNT_INITIALIZED and data["account"] != self._hub_account:
            share = ev.CatalogShared(
                owner=self._hub_account, catalog=HUB_CATALOG, target=data["account"]
            )
            await self.record(
                ev.make_event(
                    ev.CATALOG_SHARED,
                    self._hub_account,
                    share,
                    f"{self._hub_account}/{HUB_CATALOG}",
                )
            )
            await self._feed(  # owner and newcomer: the hub's catalog server must know too
                [self._hub_account, data["account"]],
                "shared",
                self._hub_account,
                HUB_CATALOG,
                target=data["account"],
            )
        elif event.type == ev.ACCOUNT_LEFT:  # each share it ended: as an unshare
            for ended in data["shares"]:
                await self._feed(
                    [ended["owner"], ended["target"]],
                    "unshared",
                    ended["owner"],
                    ended["catalog"],
                    target=ended["target"],
                )
        elif event.type in (ev.CATALOG_SHARED, ev.CATALOG_UNSHARED, ev.CATALOG_DECLINED):
            kind = "shared" if event.type == ev.CATALOG_SHARED else "unshared"  # declined: ended
            await self._feed(
                [data["owner"], data["target"]],
                kind,
                data["owner"],
                data["catalog"],
                target=data["target"],
            )

    async def _feed(
        self,
        accounts: list[str],
        kind: str,
        owner: str,
        catalog: str,
        revision: int | None = None,
        target: str | None = None,
    ) -> None:
        message = ev.FeedEvent.model_validate(
            {
                "kind": kind,
                "owner": owner,
                "catalog": catalog,
                "revision": revision,
                "target": target,
                "at": now_iso("milliseconds"),
            }
        )
        payload = message.model_dump_json().encode()
        with mapped():
            for account in dict.fromkeys(accounts):
                await self._nc.publish(subjects.feed_for(account, kind), payload)

    # --- queries ---------------------------------------------------------------------------
    async def my_shares(self, subject: str, payload: bytes) -> list[dict[str, Any]]:
        caller = subjects.caller_of(subject)
        accounts = self.mirror.accounts
        rows = []
        order = ("shared_at", "catalog", "owner", "target")  # oldest first, always the same
        blocked = set(accounts.get(caller, {}).get("blocked", []))
        for share in sorted(self.mirror.shares_of(caller), key=lambda s: [s[k] for k in order]):
            if share["owner"] in blocked and not share["imported_at"]:
                continue  # the caller's own choice: a blocked account's shares stop appearing
            presence = self.mirror.online(share["owner"], share["catalog"])
            if share["target"] == caller and self._unserved_hub_catalog(share, presence):
                continue
            rows.append(
                wire.ShareRow(
                    catalog=share["catalog"],
                    owner=share["owner"],
                    to=share["target"],
                    online=presence is not None,
                    revision=presence["revision"] if presence else None,
                    shared_at=share["shared_at"],
                    imported=bool(share["imported_at"]),
                    description=presence.get("description") if presence else None,
                    owner_name=accounts.get(share["owner"], {}).get("name", ""),
                    to_name=accounts.get(share["target"], {}).get("name", ""),
                ).model_dump()
            )
        return rows

    def _unserved_hub_catalog(self, share: dict[str, Any], presence: object) -> bool:
        """The hub's own catalog, offered to every newcomer, while the hub serves none
        (`hub up` without --catalog): not offered in an inbox. Once imported it stays
        listed (offline, as any catalog whose owner is away); its server sees them all."""
        return (
            (share["owner"], share["catalog"]) == (self._hub_account, HUB_CATALOG)
            and presence is None
            and not share["imported_at"]
        )

    async def check_share(self, subject: str, payload: bytes) -> dict[str, Any]:
        """For the hub's account service, before it adds or removes an import."""
        if subjects.caller_of(subject) != self._accounts_account:
            raise Refused("only the hub's account service may ask", 403)
        request = wire.parse_request(payload, wire.ShareCheckRequest)
        decisions = self._started.decisions
        share = await decisions.current_share(request.owner, request.catalog, request.target)
        imported = bool(share and share.get("imported_at"))
        return wire.ShareCheck(
            shared=share is not None,
            imported=imported,
            alias=share.get("alias") if share is not None and imported else None,
        ).model_dump()

    async def whoami(self, subject: str, payload: bytes) -> dict[str, Any]:
        record = self.mirror.accounts.get(subjects.caller_of(subject))
        if record is None:
            raise Refused("this account is not initialized on this hub", 404)
        return wire.GlobalWhoami(
            account=record["account"],
            name=record["name"],
            initialized_at=record["initialized_at"],
            bound_login=record["bound_login"],
        ).model_dump()

    async def stats(self, subject: str, payload: bytes) -> dict[str, Any]:
        return wire.Stats(  # people: as `hub status` counts them, the hub's own not counted
            accounts=sum(1 for a in self.mirror.accounts if a != self._hub_account),
            catalogs_online=len(self.mirror.presence),
            shares=len(self.mirror.shares),
        ).model_dump()

    async def people(self, subject: str, payload: bytes) -> dict[str, Any]:
        """Members whose name contains the text (case and accents aside), or whose key
        it is, by name; the hub's own account is not a person."""
        request = wire.parse_request(payload or b"{}", wire.PeopleRequest)
        key = request.text.strip()
        text = _spaced(key)
        found = sorted(
            (_spaced(record["name"]), record["name"], account)
            for account, record in self.mirror.accounts.items()
            if account != self._hub_account
            and (key == account or text in _spaced(record.get("name", "")))
        )
        people = [wire.Person(account=a, name=n) for _, n, a in found[: limits.PEOPLE_MAX]]
        return wire.People(people=people, more=len(found) > limits.PEOPLE_MAX).model_dump()

    async def validate_name(self, subject: str, payload: bytes) -> dict[str, Any]:
        request = wire.parse_request(payload, wire.ValidateNameRequest)
        try:
            check_name(request.name)
        except InvalidCatalogName as exc:
            return wire.ValidateNameReply(valid=False, reason=str(exc)).model_dump()
        return wire.ValidateNameReply(valid=True).model_dump()

    # --- one-time codes --------------------------------------------------------------------
    async def otc_generate(self, subject: str, payload: bytes) -> dict[str, Any]:
        caller = subjects.caller_of(subject)
        if caller not in self.mirror.accounts:
            raise Refused("this account is not initialized on this hub", 403)
        user = _asking_user()
        self._otc_rate.spend(caller)
        code = "".join(secrets.choice(OTC_ALPHABET) for _ in range(limits.OTC_LENGTH))
        made = {"account": caller, "user": user, "created_at": now_iso("milliseconds")}
        record = json.dumps(made).encode()
        await self._started.otc.create(_otc_key(code), record, ttl=limits.OTC_TTL_S)
        return wire.OtcCode(code=code, expires_in=limits.OTC_TTL_S).model_dump()

    async def otc_claim(self, subject: str, payload: bytes) -> dict[str, Any]:
        caller = subjects.caller_of(subject)
        request = wire.parse_request(payload, wire.OtcClaimRequest)
        code = request.code.strip().upper().replace("-", "")
        gone = Refused("that code is unknown, expired or already used", 404)
        try:
            entry = await self._started.otc.get(_otc_key(code))
        except KeyMissing as exc:
            raise gone from exc
        if not entry.value:
            raise gone
        made = json.loads(entry.value)
        if (made.get("account"), made.get("user")) != (caller, _asking_user()):
            # as if unknown: whether a code exists is nobody else's business. A code signs
            # in only the user who asked for it (a read-only device's, nothing but itself)
            raise gone
        # The binding first, under an id of the code's own, then the code goes: a claim
        # whose answer was lost (a node died) and is asked again finds the code still
        # there or gone with its binding written, and writes the binding once (JetStream
        # drops a repeated message id within the stream's duplicate window).
        data = ev.ContextBound(account=caller, client=request.client)
        event = ev.make_event(
            ev.CONTEXT_BOUND, caller, data, caller, id=f"otc-{_otc_key(code)[:60]}"
        )
        await self.record(event)
        with contextlib.suppress(WrongRevision):  # the same account's claim at the same time
            await self._started.otc.delete(_otc_key(code), last=entry.revision)
        return wire.OtcClaimed(account=caller, bound_at=event.time).model_dump()

    # --- presence ----------------------------------------------------------------------------
    async def heartbeat(self, subject: str, payload: bytes) -> dict[str, Any]:
        """Only an owner heartbeats its catalog: the owner is the caller NATS named."""
        owner = subjects.caller_of(subject)
        request = wire.parse_request(payload, wire.HeartbeatRequest)  # its name checked there
        if not is_public_key(owner, KeyKind.ACCOUNT) or owner not in self.mirror.accounts:
            raise Refused("this account is not initialized on this hub", 403)
        key = f"{owner}.{request.catalog}"
        if not request.online:
            with contextlib.suppress(KeyMissing):
                await self._started.presence.delete(key)
            presence = self.mirror.presence  # read your writes: answer once it is gone here
            await self.mirror.wait_until(lambda: key not in presence, limits.READ_YOUR_WRITES_S)
            return wire.HeartbeatReply(online=False, takes=_HEARTBEAT_TAKES).model_dump()
        for _ in range(limits.HEARTBEAT_CAS_TRIES):  # CAS against concurrent heartbeats of one key
            if await self._beat(key, owner, request):
                return wire.HeartbeatReply(online=True, takes=_HEARTBEAT_TAKES).model_dump()
        raise Refused("too many concurrent heartbeats for that catalog", 409)

    async def _beat(self, key: str, owner: str, request: wire.HeartbeatRequest) -> bool:
        previous: dict[str, Any] | None = None
        last = 0  # the subject's last sequence, for compare-and-set
        try:
            entry = await self._started.presence.get(key)
            previous = json.loads(entry.value) if entry.value else None
            last = entry.revision or 0
        except KeyMissing as exc:
            last = exc.revision  # a delete marker may be there: its sequence is the one to expect
        revision = request.revision
        change = (
            "online"
            if previous is None
            else "revision"
            if previous.get("revision") != revision
            else None
        )
        record = {
            "owner": owner,
            "catalog": request.catalog,
            "description": request.description,
            "revision": revision,
            "transfers": request.transfers,
            "change": change,
            "since": previous["since"] if previous else now_iso("milliseconds"),
            "at": now_iso("milliseconds"),
        }
        headers = {"Nats-Expected-Last-Subject-Sequence": str(last)}
        try:
            with mapped():
                ack = await self._js.publish(
                    subjects.kv_subject(subjects.PRESENCE_BUCKET, key),
                    json.dumps(record).encode(),
                    headers=headers,
                    msg_ttl=limits.PRESENCE_TTL_S,
                )
        except WrongRevision:
            return False  # someone else wrote first
        # read your writes: answer once this instance's mirror shows the heartbeat
        seen = self.mirror.presence_rev
        await self.mirror.wait_until(lambda: seen.get(key, 0) >= ack.seq, limits.READ_YOUR_WRITES_S)
        return True

    async def _on_presence_change(self, msg: Any) -> None:
        """Republished presence writes, one instance each (queue group): feed them."""
        try:
            key = msg.subject.split(".", 2)[2]
            owner, catalog = key.split(".", 1)
            headers = msg.headers or {}
            gone = (
                headers.get("KV-Operation") in ("DEL", "PURGE")
                or "Nats-Marker-Reason" in headers
                or not msg.data
            )
            if gone:
                kind, revision = "offline", None
            else:
                record = json.loads(msg.data)
                if not record.get("change"):
                    return
                kind, revision = record["change"], record["revision"]
            audience = [owner, *self.mirror.targets(owner, catalog)]
            await self._feed(audience, kind, owner, catalog, revision=revision)
        except (ValueError, KeyError, NatsterError):
            log.exception("could not relay a presence change on %s", msg.subject)
