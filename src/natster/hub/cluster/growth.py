"""A hub of one node grows into a cluster, and its data goes with it.

nats-server cannot turn a single server's JetStream data into a cluster's: started with
routes, it recovers the streams on its disk, finds them unknown to the cluster's
metadata, and deletes them as orphans. So the data travels the way JetStream backs a
stream up (:mod:`.snapshots`), in three steps, each resumed by the next start if a crash
cuts it short:

1. ``hub up --cluster-port`` on a hub of one node: the node runs once more as it was and
   saves every platform stream into ``migrate/`` (snapshots and a manifest, the folder
   renamed into place whole). hub.json then takes the cluster settings and the streams
   the cluster awaits (``moving_in``: stream -> its last sequence), and the node's
   JetStream storage is set aside (``migrate/jetstream.single-node``).
2. The node starts clustered; JetStream answers once a second node joined. Before any
   service starts, the node restores each awaited stream from its snapshot. Every other
   node (its bundle carried ``moving_in``) waits before its services start until each
   awaited stream holds its last sequence, so no service makes an empty stream that
   would take a restored one's name.
3. hub.json forgets ``moving_in``; ``migrate/`` becomes ``backups/single-node-<time>/``
   (the snapshots: the operator deletes them once the cluster runs well) and the
   set-aside storage is removed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import BaseModel, ValidationError

from natster._clock import now_iso
from natster._fs import ensure_dir, write_atomic
from natster._nats import Client, mapped
from natster.errors import ConfigError, HubError, RequestTimeout, ServiceUnavailable, StoreMissing
from natster.hub.cluster import snapshots
from natster.hub.cluster.snapshots import SavedStream
from natster.hub.state import HubDir

log = logging.getLogger(__name__)

# the platform accounts whose JWTs grant JetStream (claims.accounts_account, global_account)
JETSTREAM_ROLES = ("accounts", "global")
SET_ASIDE = "jetstream.single-node"
MANIFEST = "manifest.json"
SAY_EVERY_S = 5.0

Connect = Callable[[str], Awaitable[Client]]  # a connection as a platform role


class Manifest(BaseModel):
    made_at: str
    node: str
    streams: list[SavedStream]

    def awaited(self) -> dict[str, int]:
        """What hub.json's ``moving_in`` holds: ``role/stream`` -> its last sequence."""
        return {f"{s.account}/{s.name}": s.last_seq for s in self.streams}


def _folder(hub: HubDir) -> Path:
    return hub.path / "migrate"


def _partial(hub: HubDir) -> Path:
    return hub.path / "migrate.part"


def saved(hub: HubDir) -> Manifest | None:
    """The single node's saved streams, if this node holds them."""
    path = _folder(hub) / MANIFEST
    if not path.is_file():
        return None
    try:
        return Manifest.model_validate_json(path.read_text())
    except (OSError, ValidationError) as exc:
        raise ConfigError(f"{path} cannot be read: {exc}") from exc


async def save_all(hub: HubDir, connect_as: Connect, node: str) -> Manifest:
    """Step 1's data: every stream of the platform accounts, saved into ``migrate/``."""
    if _folder(hub).exists():  # saved before, but the cluster settings never followed
        shutil.rmtree(_folder(hub))
    partial = _partial(hub)
    if partial.exists():
        shutil.rmtree(partial)
    ensure_dir(partial)
    manifest = await save_streams(partial, connect_as, node)
    os.replace(partial, _folder(hub))
    return manifest


async def save_streams(folder: Path, connect_as: Connect, node: str) -> Manifest:
    """Every stream of the platform accounts saved into ``folder``, with its manifest
    (what step 1 saves, and what a backup holds: hub/backup.py)."""
    streams: list[SavedStream] = []
    for role in JETSTREAM_ROLES:
        nc = await connect_as(role)
        try:
            for name in sorted(await snapshots.stream_names(nc)):
                streams.append(await snapshots.save(nc, role, name, folder))
                log.info("saved stream %s (%d messages)", name, streams[-1].messages)
        finally:
            await nc.close()
    manifest = Manifest(made_at=now_iso(), node=node, streams=streams)
    write_atomic(folder / MANIFEST, manifest.model_dump_json(indent=2))
    return manifest


def set_aside(hub: HubDir) -> None:
    """Step 1's end: the single node's storage out of the clustered server's way (once)."""
    kept = _folder(hub) / SET_ASIDE
    if _folder(hub).is_dir() and not kept.exists() and hub.jetstream_dir.exists():
        os.replace(hub.jetstream_dir, kept)


async def bring_in(hub: HubDir, awaited: dict[str, int], connect_as: Connect) -> None:
    """Step 2: restore the awaited streams (the node that saved them), or wait for them."""
    manifest = saved(hub)
    if manifest is not None:
        await _restore_all(hub, manifest, connect_as)
    else:
        await _wait_for(awaited, connect_as)


def finish(hub: HubDir) -> Path | None:
    """Step 3's files: the snapshots kept as a backup, the set-aside storage removed."""
    folder = _folder(hub)
    if not folder.is_dir():
        return None
    shutil.rmtree(folder / SET_ASIDE, ignore_errors=True)
    backups = ensure_dir(hub.path / "backups")
    kept = backups / f"single-node-{now_iso().replace(':', '')}"
    os.replace(folder, kept)
    return kept


async def _restore_all(hub: HubDir, manifest: Manifest, connect_as: Connect) -> None:
    for role in JETSTREAM_ROLES:
        streams = [s for s in manifest.streams if s.account == role]
        if not streams:
            continue
        nc = await connect_as(role)
        try:
            for stream in streams:
                held = await _last_seq(nc, stream.name)
                if held is None:
                    await snapshots.restore(nc, stream, _folder(hub))
                    log.info("moved %s in (%d messages)", stream.name, stream.messages)
                elif held < stream.last_seq:
                    raise HubError(
                        f"the cluster already has a stream {stream.name} with fewer messages "
                        f"than this node held (a node that did not wait for the move made it?); "
                        f"the saved data is kept in {_folder(hub)}: docs/deploy.md"
                    )
        finally:
            await nc.close()


async def _wait_for(awaited: dict[str, int], connect_as: Connect) -> None:
    """Wait until every awaited stream holds its last sequence, saying so now and then."""
    loop = asyncio.get_running_loop()
    said = loop.time()
    for key, last_seq in sorted(awaited.items()):
        role, _, name = key.partition("/")
        if role not in JETSTREAM_ROLES:
            raise ConfigError(f"hub.json awaits a stream of an unknown account: {key!r}")
        nc = await connect_as(role)
        try:
            while await _held(nc, name) < last_seq:
                if loop.time() - said >= SAY_EVERY_S:
                    log.warning(
                        "waiting for the founding node to move the single node's data into "
                        "the cluster (stream %s)",
                        name,
                    )
                    said = loop.time()
                await asyncio.sleep(0.25)
        finally:
            await nc.close()


async def _last_seq(nc: Client, stream: str) -> int | None:
    """The stream's last sequence (None: no such stream)."""
    try:
        with mapped("the hub's JetStream"):
            info = await nc.jetstream(timeout=snapshots.IDLE_S).stream_info(stream)
    except StoreMissing:
        return None
    return int(info.state.last_seq)


async def _held(nc: Client, stream: str) -> int:
    """Like :func:`_last_seq` while waiting: a stream not there yet, or a cluster still
    electing its leaders, holds nothing yet (-1)."""
    try:
        held = await _last_seq(nc, stream)
    except (ServiceUnavailable, RequestTimeout):
        return -1
    return -1 if held is None else held
