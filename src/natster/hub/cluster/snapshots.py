"""A stream's own backup, as nats-server makes it: a snapshot (the stream's config, its
state, and nats-server's archive of its messages and consumers) saved to a file, and a
stream restored from one. The protocol is nats-server's own, the one ``nats stream
backup`` and ``nats stream restore`` speak (docs/protocol.md):

* snapshot: ask ``$JS.API.STREAM.SNAPSHOT.<stream>`` naming a deliver subject; the answer
  holds the config and state, then the archive arrives on that subject in chunks, each
  acknowledged by an empty message to its reply subject (the last, short chunk has
  none); an empty message ends it, a status header other than 204 saying why it failed.
* restore: ask ``$JS.API.STREAM.RESTORE.<stream>`` with the config and state; the answer
  names a subject each chunk is sent to as a request (answered empty, or with an error);
  an empty request ends it, answered with the new stream's info or an error.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from nats.aio.msg import Msg
from pydantic import BaseModel

from natster._fs import SECRET_MODE
from natster._nats import Client, asking_again, mapped, request_raw
from natster.errors import ConfigError, ServiceUnavailable, StoreError, StoreMissing

CHUNK = 128 * 1024  # nats-server's default; well under any hub's max payload
IDLE_S = 10.0  # a snapshot or restore that makes no progress for this long has failed
FINISH_S = 120.0  # how long nats-server may take to load a restored stream
RIDE_OUT_S = 3.0  # a chunk that reached nobody is sent again for this long (under 5 s,
# after which nats-server gives up on a restore that stalled)
API = "$JS.API"
JS_NOT_ENABLED = 10039  # the account has no JetStream: it holds no streams


class SavedStream(BaseModel):
    """One stream as a snapshot file: what restoring it needs, and how to check the file."""

    account: str  # the platform role whose account holds it ("global", "accounts")
    name: str
    file: str  # the archive, relative to the folder it was saved in
    size: int
    sha256: str
    messages: int
    last_seq: int
    config: dict[str, Any]  # as nats-server gave it: restored exactly so
    state: dict[str, Any]


async def stream_names(nc: Client) -> list[str]:
    """Every stream of the account ``nc`` is connected as (none without JetStream)."""
    names: list[str] = []
    while True:
        try:
            reply = await _api(nc, f"{API}.STREAM.NAMES", {"offset": len(names)})
        except _NotEnabled:
            return []
        page = [str(n) for n in reply.get("streams") or []]
        names += page
        if not page or len(names) >= int(reply.get("total", 0)):
            return names


async def save(nc: Client, account: str, stream: str, folder: Path) -> SavedStream:
    """Snapshot ``stream`` into ``folder/<stream>.snapshot`` (0600: it holds the data)."""
    target = folder / f"{stream}.snapshot"
    part = target.with_name(target.name + ".part")
    chunks: asyncio.Queue[Msg] = asyncio.Queue()

    async def arrived(msg: Msg) -> None:
        chunks.put_nowait(msg)

    inbox = nc.new_inbox()
    with mapped("the hub's JetStream"):
        sub = await nc.subscribe(inbox, cb=arrived)
    try:
        request = {"deliver_subject": inbox, "jsck": True, "chunk_size": CHUNK}
        reply = await _api(nc, f"{API}.STREAM.SNAPSHOT.{stream}", request)
        digest, size = await _receive(nc, stream, chunks, part)
    finally:
        with mapped("the hub's JetStream"):
            await sub.unsubscribe()
    os.replace(part, target)
    state = dict(reply.get("state") or {})
    return SavedStream(
        account=account,
        name=stream,
        file=target.name,
        size=size,
        sha256=digest,
        messages=int(state.get("messages", 0)),
        last_seq=int(state.get("last_seq", 0)),
        config=dict(reply.get("config") or {}),
        state=state,
    )


async def _receive(
    nc: Client, stream: str, chunks: asyncio.Queue[Msg], part: Path
) -> tuple[str, int]:
    """The archive's chunks written to ``part``: its sha256 and size."""
    digest = hashlib.sha256()
    size = 0
    descriptor = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, SECRET_MODE)
    with os.fdopen(descriptor, "wb") as out:
        while True:
            try:
                msg = await asyncio.wait_for(chunks.get(), IDLE_S)
            except TimeoutError as exc:
                raise StoreError(f"the snapshot of {stream} stalled for {IDLE_S:g} s") from exc
            if not msg.data:  # the end: whole, or why not
                status = (msg.headers or {}).get("Status", "")
                if status and status != "204":
                    why = (msg.headers or {}).get("Description", "")
                    raise StoreError(f"nats-server could not snapshot {stream}: {status} {why}")
                break
            out.write(msg.data)
            digest.update(msg.data)
            size += len(msg.data)
            if msg.reply:
                with mapped("the hub's JetStream"):
                    await nc.publish(msg.reply, b"")
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest(), size


async def restore(nc: Client, saved: SavedStream, folder: Path) -> None:
    """Make ``saved`` a stream again, exactly as it was (config, messages, sequences,
    consumers), in the account ``nc`` is connected as; the file is checked first."""
    path = folder / saved.file
    _check(path, saved)
    request = {"config": saved.config, "state": saved.state}
    reply = await _api(nc, f"{API}.STREAM.RESTORE.{saved.name}", request)
    deliver = str(reply.get("deliver_subject") or "")
    if not deliver:
        raise StoreError(f"nats-server named no subject to restore {saved.name} to")
    with path.open("rb") as archive:
        while chunk := archive.read(CHUNK):
            answer = await _send(nc, deliver, chunk, IDLE_S)
            if answer:
                _raise_error(json.loads(answer), f"restoring {saved.name}")
    done = await _send(nc, deliver, b"", FINISH_S)
    _raise_error(json.loads(done or b"{}"), f"restoring {saved.name}")


async def _send(nc: Client, deliver: str, chunk: bytes, timeout: float) -> bytes:
    """One chunk to the restoring server. In a cluster that may be another node, whose
    interest in ``deliver`` reaches ours a moment after its answer did: a chunk that
    reached nobody ("no responders") was not received, so it is sent again."""
    return await asking_again(
        lambda: request_raw(nc, deliver, chunk, timeout=timeout, what="nats-server"),
        within=RIDE_OUT_S,
        transient=lambda exc: isinstance(exc, ServiceUnavailable),
        pause=0.05,
    )


def _check(path: Path, saved: SavedStream) -> None:
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as archive:
            while block := archive.read(1024 * 1024):
                digest.update(block)
                size += len(block)
    except OSError as exc:
        raise ConfigError(f"cannot read the saved stream {path}: {exc.strerror}") from exc
    if size != saved.size or digest.hexdigest() != saved.sha256:
        raise ConfigError(f"the saved stream {path} is damaged (its size or hash changed)")


class _NotEnabled(StoreError):
    """The account has no JetStream."""


async def _api(nc: Client, subject: str, body: dict[str, Any]) -> dict[str, Any]:
    data = await request_raw(
        nc, subject, json.dumps(body).encode(), timeout=IDLE_S, what="the hub's JetStream"
    )
    try:
        reply = json.loads(data)
    except ValueError as exc:
        raise StoreError(f"JetStream answered {subject} with something not JSON") from exc
    if not isinstance(reply, dict):
        raise StoreError(f"JetStream answered {subject} with something not an object")
    _raise_error(reply, subject)
    return reply


def _raise_error(reply: Any, doing: str) -> None:
    error = reply.get("error") if isinstance(reply, dict) else None
    if not isinstance(error, dict):
        return
    description = str(error.get("description", "an error"))
    if error.get("err_code") == JS_NOT_ENABLED:
        raise _NotEnabled(description)
    if error.get("code") == 404:
        raise StoreMissing(f"{doing}: {description}")
    if error.get("code") == 503:
        raise ServiceUnavailable(f"{doing}: {description}; try again")
    raise StoreError(f"JetStream refused {doing}: {description}")
