"""Signing a browser in: codes that carry a browser's public keys to a signed-in machine.

A sign-in page (a guest of the hub, in its ``signin`` account: hub/entry/guests.py) makes a
user key and an xkey and *offers* their public halves: it gets a short code to show.
Only the guest that offered a code may wait on it, and offers are limited per guest
and per address (nats-server names both: the signin import shares them), so no page
can spend another's grant, nor one guest the hub's offers. On a machine that
holds the account key, ``natster login CODE`` *takes* the code (it is then that
account's, and nobody else's), signs a user JWT for the page's key and *grants* it,
sealed to the page's xkey. The page, *waiting* on the code, gets the sealed grant once;
then the code is gone. A code lives ``SIGNIN_TTL_S`` from its offer, whatever happens.

Records live in the ``natster_signin`` bucket under the code's sha256 (the bucket never
holds a usable code), each written compare-and-set, so two machines racing for one
code, or a grant racing its wait, end one way.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from pydantic import BaseModel, ValidationError

from natster import limits, subjects, wire
from natster._bucket import Bucket
from natster._rate import RateLimit, address_of
from natster._service import Requester, requester
from natster.errors import KeyMissing, Refused, WrongRevision

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: easy to read and type


class _Record(BaseModel):
    user: str
    xkey: str
    label: str
    offered_at: float  # unix seconds
    guest: str | None = None  # the guest user who offered it: the only one who may wait
    account: str | None = None  # who took it
    grant_xkey: str | None = None
    sealed: str | None = None


def normal_signin_code(code: str) -> str:
    """``abcd-efgh``, ``ABCDEFGH``: the same code."""
    return code.strip().upper().replace("-", "")


def _key(code: str) -> str:
    return hashlib.sha256(normal_signin_code(code).encode()).hexdigest()


def _gone() -> Refused:
    return Refused("that sign-in code is unknown, expired or already used", 404)


class Signins:
    """The ``signin.*`` endpoints of the global service, on its ``natster_signin`` bucket."""

    def __init__(self, bucket: Bucket, *, guests: str) -> None:
        self._bucket = bucket
        self._guests = guests  # the hub's signin account: where sign-in pages connect
        self._per_guest = RateLimit("sign-in codes from this page", limits.SIGNIN_GUEST_RATE)
        self._per_address = RateLimit("sign-in codes from this address", limits.SIGNIN_RATE)
        self._takes = RateLimit("sign-in attempts", limits.SIGNIN_TAKES)

    async def _read(self, code: str) -> tuple[_Record, int]:
        try:
            entry = await self._bucket.get(_key(code))
        except KeyMissing as exc:
            raise _gone() from exc
        if not entry.value:
            raise _gone()
        try:
            record = _Record.model_validate_json(entry.value)
        except ValidationError as exc:
            raise _gone() from exc
        if time.time() - record.offered_at > limits.SIGNIN_TTL_S:
            raise _gone()  # the bucket's max age drops it soon; its code is dead already
        return record, entry.revision or 0

    async def _write(self, code: str, record: _Record, last: int) -> None:
        try:
            await self._bucket.update(_key(code), record.model_dump_json().encode(), last=last)
        except WrongRevision as exc:  # someone else got there first
            raise _gone() from exc

    def _guest(self, subject: str) -> Requester:
        """The sign-in page asking (a guest of the signin account), or Refused."""
        if subjects.caller_of(subject) != self._guests:
            raise Refused("sign-in codes are offered by sign-in pages only", 403)
        asking = requester()
        if asking is None:  # the hub pushes the signin account with ``share`` at start
            raise Refused("the hub is not ready for sign-ins yet: try again in a minute", 503)
        return asking

    async def offer(self, subject: str, payload: bytes) -> dict[str, Any]:
        guest = self._guest(subject)
        request = wire.parse_request(payload, wire.SigninOffer)
        self._per_guest.spend(guest.user)
        self._per_address.spend(address_of(guest.host))
        record = _Record(
            user=request.user,
            xkey=request.xkey,
            label=request.label,
            offered_at=time.time(),
            guest=guest.user,
        )
        body = record.model_dump_json().encode()
        while True:  # a clash of random codes is rare; a new one is made then
            code = "".join(secrets.choice(ALPHABET) for _ in range(limits.SIGNIN_LENGTH))
            try:
                await self._bucket.create(_key(code), body)
            except WrongRevision:
                continue
            break
        shown = f"{code[:4]}-{code[4:]}"
        return wire.SigninCode(code=shown, expires_in=limits.SIGNIN_TTL_S).model_dump()

    async def wait(self, subject: str, payload: bytes) -> dict[str, Any]:
        """The page's question: granted yet? The grant is handed out once, then gone."""
        guest = self._guest(subject)
        request = wire.parse_request(payload, wire.SigninCodeRequest)
        record, revision = await self._read(request.code)
        if record.guest != guest.user:
            raise _gone()  # another page's code: as if unknown
        if record.sealed is None:
            return wire.SigninWaiting(state="waiting").model_dump()
        try:
            await self._bucket.delete(_key(request.code), last=revision)
        except WrongRevision as exc:
            raise _gone() from exc
        return wire.SigninWaiting(
            state="granted", xkey=record.grant_xkey, sealed=record.sealed
        ).model_dump()

    async def take(self, subject: str, payload: bytes) -> dict[str, Any]:
        """A signed-in machine's first step: the code becomes its account's alone."""
        caller = subjects.caller_of(subject)
        self._takes.spend(caller)
        request = wire.parse_request(payload, wire.SigninCodeRequest)
        record, revision = await self._read(request.code)
        if record.account not in (None, caller) or record.sealed is not None:
            raise _gone()  # another account's: as if unknown
        if record.account is None:
            await self._write(request.code, record.model_copy(update={"account": caller}), revision)
        return wire.SigninTaken(user=record.user, xkey=record.xkey, label=record.label).model_dump()

    async def grant(self, subject: str, payload: bytes) -> dict[str, Any]:
        """The sealed grant, from the account that took the code (once)."""
        caller = subjects.caller_of(subject)
        self._takes.spend(caller)
        request = wire.parse_request(payload, wire.SigninGrantRequest)
        record, revision = await self._read(request.code)
        if record.account != caller or record.sealed is not None:
            raise _gone()
        update = {"grant_xkey": request.xkey, "sealed": request.sealed}
        await self._write(request.code, record.model_copy(update=update), revision)
        return {"granted": True}
