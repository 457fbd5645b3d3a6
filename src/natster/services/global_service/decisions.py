"""What a write may do, decided on the buckets once they hold the whole event log.

A decision (is this catalog shared already? is that account known?) never reads only an
instance's mirror, which may lag (a watch resuming after a node died), nor a bucket that
has not yet applied what the log holds (a projection consumer resuming): a share refused
as a duplicate, or an unshare refused as "not shared", on a stale view would be a write
lost while its caller was told something untrue.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from nats.js.client import JetStreamContext

from natster import events as ev
from natster import limits
from natster._bucket import Bucket
from natster._nats import from_leader, mapped
from natster.errors import Refused, ServiceUnavailable

from .live_view import Mirror
from .projections import APPLIED_KEY, SHARES, share_key

# what an account is told when it shares or blocks for another, or towards itself
_SHARING = (
    "only a catalog's owner can share or unshare it",
    "a catalog cannot be shared with its owner",
)
_BLOCKING = ("an account blocks for itself only", "that is your own account")


def _catching_up() -> ServiceUnavailable:
    return ServiceUnavailable(
        "the hub is catching up with its event log (after losing a node?): "
        "try again in a few seconds"
    )


def _subject_of(event_type: str, caller: str, data: Any) -> str:
    """An event's subject: the blocking account, or the catalog shared, declined or imported."""
    if event_type in (ev.ACCOUNT_BLOCKED, ev.ACCOUNT_UNBLOCKED):
        return caller
    return f"{data.owner}/{data.catalog}"


class Decisions:
    def __init__(
        self,
        js: JetStreamContext,
        *,
        accounts: Bucket,
        shares: Bucket,
        mirror: Mirror,
        accounts_account: str,
    ) -> None:
        self._js = js
        self._accounts = accounts
        self._shares = shares
        self._mirror = mirror
        self._accounts_account = accounts_account  # the hub's account service
        # what each kind of event a user writes must hold (False: it would change nothing)
        self._rules: dict[str, Callable[[str, str, Any], Awaitable[bool]]] = {
            ev.CATALOG_SHARED: self._sharing,
            ev.CATALOG_UNSHARED: self._sharing,
            ev.CATALOG_DECLINED: self._declining,
            ev.ACCOUNT_BLOCKED: self._blocking,
            ev.ACCOUNT_UNBLOCKED: self._blocking,
            ev.CATALOG_IMPORTED: self._importing,
            ev.CATALOG_FORGOTTEN: self._forgetting,
        }

    async def event_for(self, caller: str, event_type: str, data: Any) -> ev.CloudEvent | None:
        """The event ``caller`` may write (None: it would change nothing), or
        :class:`Refused` (4xx) when the caller or the current state does not allow it."""
        await self.caught_up()
        if event_type == ev.ACCOUNT_LEFT:
            return await self._leaving(caller, data)
        if event_type == ev.ACCOUNT_INITIALIZED:
            if caller != self._accounts_account:
                raise Refused("only the hub's account service initializes accounts", 403)
            if await self._left(data.account):
                raise Refused("that account left this hub", 410)
            known = self._mirror.accounts.get(data.account)
            if known is not None and known.get("name") == data.name:
                return None
            if known is None and await self._known(data.account):
                return None  # a newcomer this instance has not seen yet: it has one name
            # new, or renamed: the account service reserved the name first (names are unique)
            return ev.make_event(event_type, caller, data, data.account)
        if caller == self._accounts_account or not await self._known(caller):
            raise Refused("this account is not initialized on this hub", 403)
        if event_type == ev.CONTEXT_BOUND:
            raise Refused("logins are bound with otc.claim", 403)
        decide = self._rules.get(event_type)
        if decide is None:
            raise Refused(f"{event_type} cannot be put", 403)
        if not await decide(caller, event_type, data):
            return None
        return ev.make_event(event_type, caller, data, _subject_of(event_type, caller, data))

    async def _leaving(self, caller: str, data: Any) -> ev.CloudEvent | None:
        """The account service records a leaving, with every share it ends (None: the
        account left already, or was never here)."""
        if caller != self._accounts_account:
            raise Refused("an account leaves through the hub's account service", 403)
        if not await self._known(data.account):
            return None
        shares = await self._applied(self._shares)
        if not await self._mirror.wait_applied(shares, [SHARES.name], limits.DECIDE_CATCH_UP_S):
            raise _catching_up()
        ended = [
            ev.ShareEnded(owner=s["owner"], catalog=s["catalog"], target=s["target"])
            for s in self._mirror.shares_of(data.account)
        ]
        if len(ended) > limits.LEAVE_SHARES_MAX:
            raise Refused(
                f"you have {len(ended)} shares, more than {limits.LEAVE_SHARES_MAX} can end "
                "at once: unshare some first",
                413,
            )
        left = ev.AccountLeft(account=data.account, shares=ended, removed=data.removed)
        return ev.make_event(ev.ACCOUNT_LEFT, caller, left, data.account)

    async def _sharing(self, caller: str, event_type: str, data: Any) -> bool:
        await self._towards(caller, data.owner, data.target, _SHARING)
        active = await self._share(data.owner, data.catalog, data.target) is not None
        if event_type == ev.CATALOG_UNSHARED:
            if not active:
                raise Refused("that catalog is not shared with that account", 404)
            return True
        if active:
            return False
        if await self._blocks(data.target, caller):
            raise Refused("that person does not take shares from you", 403)
        return True

    async def _declining(self, caller: str, event_type: str, data: Any) -> bool:
        if data.target != caller:
            raise Refused("a share is declined by the account it was shared with", 403)
        share = await self._share(data.owner, data.catalog, caller)
        if share is None:
            raise Refused("that catalog is not shared with you", 404)
        if share.get("imported_at"):
            raise Refused("you imported that catalog already: it is not in your inbox", 409)
        return True

    async def _blocking(self, caller: str, event_type: str, data: Any) -> bool:
        await self._towards(caller, data.account, data.other, _BLOCKING)
        # blocked (or unblocked) already: nothing to write
        return (event_type == ev.ACCOUNT_BLOCKED) != await self._blocks(caller, data.other)

    async def _importing(self, caller: str, event_type: str, data: Any) -> bool:
        if data.importer != caller:
            raise Refused("an import is recorded by the importing account", 403)
        share = await self._share(data.owner, data.catalog, caller)
        if share is None:
            raise Refused("that catalog is not shared with you", 403)
        return not share.get("imported_at")

    async def _forgetting(self, caller: str, event_type: str, data: Any) -> bool:
        if data.importer != caller:
            raise Refused("an import is forgotten by the importing account", 403)
        share = await self._share(data.owner, data.catalog, caller)
        if share is None:
            raise Refused("that catalog is not shared with you", 404)
        return bool(share.get("imported_at"))  # not imported: nothing to forget

    async def current_share(self, owner: str, catalog: str, target: str) -> dict[str, Any] | None:
        """The share as the log says it is now (None: not shared)."""
        await self.caught_up()
        return await self._share(owner, catalog, target)

    async def caught_up(self) -> None:
        """Wait until the buckets hold every event the log held when asked: a write
        acknowledged a moment ago (by any instance) is seen by the decision that follows
        it, even while projections lag (a node died holding their consumer)."""

        async def last_seq() -> int:  # self._js asks for LEADER_TRY_S each time
            with mapped("the event log"):
                return int((await self._js.stream_info(ev.STREAM)).state.last_seq)

        last = await from_leader(last_seq)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits.DECIDE_CATCH_UP_S
        while True:
            applied = [await self._applied(b) for b in (self._accounts, self._shares)]
            if min(applied) >= last:
                return
            if loop.time() >= deadline:
                raise _catching_up()
            await asyncio.sleep(0.05)

    async def _towards(self, caller: str, actor: str, other: str, said: tuple[str, str]) -> None:
        """An account's act towards another: the caller acts for itself only (403, the
        first of ``said``), not towards itself (400, the second), towards an account this
        hub knows (404)."""
        not_yours, yourself = said
        if actor != caller:
            raise Refused(not_yours, 403)
        if other == caller:
            raise Refused(yourself)
        if not await self._known(other):
            raise Refused("that account is not known to this hub", 404)

    @staticmethod
    async def _applied(bucket: Bucket) -> int:
        return int(await bucket.value(APPLIED_KEY) or 0)

    async def _known(self, account: str) -> bool:
        """Whether ``account`` was initialized and has not left: the mirror knows it, or
        (a newcomer it has not seen yet) its bucket does."""
        if account in self._mirror.accounts:
            return True
        record = await _record(self._accounts, account)
        return record is not None and not record.get("left_at")

    async def _left(self, account: str) -> bool:
        record = await _record(self._accounts, account)
        return record is not None and bool(record.get("left_at"))

    async def _blocks(self, account: str, other: str) -> bool:
        """Whether ``account`` blocked ``other`` (takes no shares from them)."""
        record = await _record(self._accounts, account)
        return record is not None and other in record.get("blocked", [])

    async def _share(self, owner: str, catalog: str, target: str) -> dict[str, Any] | None:
        record = await _record(self._shares, share_key(owner, catalog, target))
        return record if record is not None and record.get("shared") is True else None


async def _record(bucket: Bucket, key: str) -> dict[str, Any] | None:
    """A projection's record (None: none, or not one the projections write)."""
    try:
        record = json.loads(await bucket.value(key) or b"null")
    except ValueError:
        return None
    return record if isinstance(record, dict) else None
