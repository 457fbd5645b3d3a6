"""What every natster micro service shares: the envelope and never crashing on input.

A handler takes the request's subject and payload and returns the ``data`` of a
200 envelope, or raises a :class:`natster.errors.NatsterError`, answered with its
``status`` and message (:class:`~natster.errors.Refused` for a 4xx of the handler's
own). Anything else is logged and answered with a 500 that says no more than
"internal error": a peer never crashes a service, and never learns its internals.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from nats.micro.request import Request as MicroRequest
from nats.micro.service import EndpointConfig, Service

from natster import _natsio, wire
from natster.endpoints import Endpoint
from natster.errors import NatsterError
from natster.security import KeyKind, is_public_key

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes], Awaitable[Any]]
REQUEST_INFO = "Nats-Request-Info"  # set by nats-server on a request crossing an import
_request_info: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "natster_request_info", default=None
)


@dataclass(frozen=True)
class Requester:
    """Who sent the request being handled: its NATS user's public key and the address
    it connected from."""

    user: str
    host: str


def requester() -> Requester | None:
    """Who sent the request being handled, as nats-server says in ``Nats-Request-Info``:
    it sets that header on every request crossing a service import (replacing any the
    sender wrote), with the user and its address where the import shares the
    requester's details (``share``). None where it does not."""
    try:
        info = json.loads(_request_info.get() or "{}")
    except ValueError:
        return None
    if not isinstance(info, dict):
        return None
    user, host = info.get("user"), info.get("host")
    if not isinstance(user, str) or not is_public_key(user, KeyKind.USER):
        return None
    return Requester(user, host if isinstance(host, str) else "")


def requester_user() -> str | None:
    """The requester's user key (see :func:`requester`), or None."""
    found = requester()
    return found.user if found else None


_TOO_LONG = (
    "the hub could not finish that within {deadline:g} s (it may be short of nodes, or "
    "electing a leader after losing one): try again in a few seconds"
)


def endpoint(
    handler: Handler,
    concurrency: int = 0,
    *,
    deadline: float | None = None,
    counted: tuple[str, str] | None = None,
) -> Callable[[MicroRequest], Awaitable[None]]:
    """A micro-service handler. nats-py hands a subscription its messages one at a time;
    with ``concurrency``, up to that many requests are served at once (each in a task).
    With ``deadline`` (seconds, less than the caller's timeout), a request not done by
    then is stopped and answered 503 "try again": the caller hears why, not silence.
    With ``counted`` (service, endpoint), each answer's code and time go to _metrics."""
    from natster import _metrics

    async def serve(request: MicroRequest) -> None:
        began = time.monotonic()
        code = 200
        limit = asyncio.timeout(deadline)
        _request_info.set((request.headers or {}).get(REQUEST_INFO))  # this request's
        try:
            async with limit:
                data = await handler(request.subject, request.data)
            reply = data if isinstance(data, (bytes, bytearray)) else wire.ok(data)  # bytes go raw
        except NatsterError as exc:
            if exc.status >= 500:
                log.warning("request on %s failed: %s", request.subject, exc)
            code, reply = exc.status, wire.fail(exc.status, str(exc))
        except TimeoutError:
            if not limit.expired():
                log.exception("request on %s crashed", request.subject)
                code, reply = 500, wire.fail(500, "internal error")
            else:
                log.warning("request on %s stopped after %g s", request.subject, deadline)
                code, reply = 503, wire.fail(503, _TOO_LONG.format(deadline=deadline))
        except Exception:
            log.exception("request on %s crashed", request.subject)
            code, reply = 500, wire.fail(500, "internal error")
        if counted is not None:
            _metrics.answered(*counted, code, time.monotonic() - began)
        try:
            message = request._msg  # micro's Request hides the message it answers
            if message.reply and len(reply) >= _natsio.LARGE:  # a chunk: no extra copies
                await _natsio.publish(message._client, message.reply, reply)
            else:  # nats-py types payloads as bytes; any bytes-like goes
                await request.respond(cast(bytes, reply))
        except Exception as exc:  # the requester may be gone; that is not our failure
            log.debug("could not answer on %s: %s", request.subject, exc)

    if concurrency <= 0:
        return serve
    slots = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task[None]] = set()

    async def bounded(request: MicroRequest) -> None:
        async with slots:
            await serve(request)

    async def dispatch(request: MicroRequest) -> None:
        await slots.acquire()  # at most ``concurrency`` at once: back-pressure on NATS
        slots.release()
        task = asyncio.create_task(bounded(request))
        running.add(task)
        task.add_done_callback(running.discard)

    return dispatch


async def add_endpoints(
    service: Service,
    table: Sequence[Endpoint[Any]],
    handlers: Mapping[Endpoint[Any], Handler],
    *,
    deadline: float | None = None,
    catalog: str = "",
) -> None:
    """Serve every endpoint of ``table`` on ``service`` with its handler; a handler
    missing or one for an endpoint not in the table is a mistake, refused at once."""
    names = {e.name for e in table}
    missing = sorted(names - {e.name for e in handlers})
    extra = sorted({e.name for e in handlers} - names)
    if missing or extra:
        raise ValueError(f"handlers missing for {missing}, or not in the table: {extra}")
    for entry in table:
        name = f"{catalog}-{entry.micro_name}" if catalog else entry.micro_name
        await service.add_endpoint(
            EndpointConfig(
                name=name,
                subject=entry.listen(catalog),
                handler=endpoint(
                    handlers[entry],
                    entry.concurrency,
                    deadline=deadline,
                    counted=(entry.service.value, entry.name),
                ),
            )
        )
