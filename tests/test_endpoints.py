"""Every endpoint in natster's tables (natster.endpoints) gets hostile payloads; each
is answered (200, or a 4xx that says why), never a crash or silence, and the services
still answer after. A new endpoint is in the table, so it is in this test."""

from __future__ import annotations

import json
from typing import Any

import pytest

from natster import _nats, endpoints, limits, subjects, wire
from natster._service import add_endpoints
from natster.client import remote
from natster.endpoints import Endpoint, Service
from natster.errors import RemoteError, ServiceUnavailable

from .conftest import World, key

HOSTILE = {
    "empty": b"",
    "half json": b"{",
    "a list": b"[]",
    "null": b"null",
    "a string": b'"x"',
    "too big": b"{" + b" " * limits.MAX_REQUEST_BYTES + b"}",  # over what a service reads
    "wrong types": json.dumps({"type": 1, "data": []}).encode(),
    "more wrong types": json.dumps({"limit": "x", "code": 5, "user": []}).encode(),
    "unknown field": json.dumps({"admin": True}).encode(),
    "traversal": json.dumps({"path": "../../etc/passwd", "prefix": "/etc/"}).encode(),
    "not utf-8": b"\xff\xfe",
    "deep nesting": b"[" * 3000,
}


async def _status(nc: Any, subject: str, payload: bytes) -> int:
    """What the service answered: 200, or the status of its error envelope."""
    reply = await _nats.request_raw(nc, subject, payload, timeout=10)
    if reply.startswith(b"xkv1"):  # a sealed chunk
        return 200
    try:
        wire.unwrap(reply)
    except RemoteError as exc:
        return exc.status
    return 200


async def test_every_endpoint_answers_hostile_payloads_and_lives(world: World) -> None:
    alice, me = world.alice, key(world.alice)
    accounts = await _nats.connect(  # signup and device codes are asked from the signup
        world.hub.info.local_url,  # side: in the accounts account, every payload reaches it
        world.hub.dir.creds("accounts"),
        trust=world.hub.dir.trust(),
        name="hostile",
    )
    bad: list[tuple[str, str, int | str]] = []
    try:
        for endpoint in endpoints.ALL:
            if endpoint.service is Service.CATALOG:
                nc, subject = alice.connection, subjects.catalog_local(me, "films", endpoint.name)
            else:
                nc = accounts if endpoint.subject else alice.connection
                subject = endpoint.local()
            for label, payload in HOSTILE.items():
                try:
                    status: int | str = await _status(nc, subject, payload)
                except (ServiceUnavailable, TimeoutError) as exc:
                    status = type(exc).__name__
                if not (status == 200 or (isinstance(status, int) and 400 <= status < 500)):
                    bad.append((endpoint.name, label, status))
    finally:
        await accounts.close()
    assert bad == []
    assert (await alice.stats()).accounts == 3  # alice, bob, carol: people, not the hub
    films = await remote.resolve(alice, "films")
    assert (await remote.summary(alice, films)).files == 3


async def test_a_service_with_a_handler_missing_or_extra_does_not_start() -> None:
    service: Any = None  # refused before the service is touched
    handlers: dict[Endpoint[Any], Any] = {e: None for e in endpoints.GLOBAL[1:]}
    with pytest.raises(ValueError, match=r"events\.put"):
        await add_endpoints(service, endpoints.GLOBAL, handlers)
    handlers = {e: None for e in (*endpoints.GLOBAL, endpoints.SUMMARY)}
    with pytest.raises(ValueError, match="summary"):
        await add_endpoints(service, endpoints.GLOBAL, handlers)


def test_every_endpoint_is_named_once_in_its_service() -> None:
    for service in Service:
        names = [e.name for e in endpoints.ALL if e.service is service]
        assert len(names) == len(set(names)), service
    assert {e.listen("films") for e in endpoints.ALL} >= {
        subjects.SIGNUP,
        subjects.DEVICE_CODE,
        "*.natster.global.events.put",
        "*.natster.accounts.imports.add",
        "*.natster.catalog.films.transfer-chunk",
    }
