"""``natster hub backup`` and ``natster hub restore``: a whole hub in one file.

A backup is a tar archive (gzip), 0600 from its first byte: the hub's keys, its
``hub.json``, the operator's and system account's JWTs, every account JWT the resolver
holds, its TLS files, and every JetStream stream (the event log and every bucket) as
JetStream's own snapshot of it, taken from the running hub (:mod:`.cluster.snapshots`),
with a manifest. It is made in the hub's own format: ``hub.json`` in it awaits the
streams (``moving_in``), so ``restore`` only unpacks it into a new directory, and the
first ``hub up`` there restores the streams before any service starts, as a hub of one
node growing into a cluster does (:mod:`.cluster.growth`). A restored hub is one node
(a cluster's backup comes back as its first node: grow it again with
``hub node invite``), with the same keys, accounts and CA, so every user's credentials
and invites' pins hold.

With a passphrase, the archive is sealed as it is written (``natster.security.
passphrase``: argon2id, then libsodium's secretstream, chunk by chunk) behind
``SEALED``; ``restore`` opens it into a file of its own (0600, beside the target) and
goes on from there.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from natster._clock import now_iso
from natster._fs import SECRET_MODE, ensure_dir, write_atomic
from natster._nats import Client, connect
from natster.errors import ConfigError
from natster.hub.cluster import growth
from natster.hub.state import DEFAULT_NODE, HubDir
from natster.security.passphrase import SealingWriter, check_passphrase, open_sealed

FORMAT = 1  # the archive's own version, in its manifest
SEALED = b"natster-hub-backup-sealed-1\n"  # what a sealed backup starts with
MANIFEST = "natster-backup.json"
KEPT = ("keys", "jwt", "tls")  # folders of the hub directory a backup holds whole
KEPT_FILES = ("operator.jwt", "sys.jwt")


@dataclass(frozen=True)
class Made:
    path: Path
    size: int
    streams: int
    messages: int


async def backup(hub: HubDir, out: Path, passphrase: str | None = None) -> Made:
    """Write the running hub in ``hub`` into the archive ``out`` (replaced whole), sealed
    with ``passphrase`` if given."""
    if passphrase is not None:
        check_passphrase(passphrase)
    state = hub.require_running()
    config = hub.load()
    out = out.expanduser().resolve()
    ensure_dir(out.parent)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".natster-backup-") as work:
        staged = Path(work)

        async def connect_as(role: str) -> Client:
            return await connect(
                state.local_url, hub.creds(role), name=f"natster-backup-{role}", trust=hub.trust()
            )

        moving = staged / "migrate"
        ensure_dir(moving)
        manifest = await growth.save_streams(moving, connect_as, config.node)
        restored = config.model_copy(  # one node, awaiting its streams at its first start
            update={
                "node": DEFAULT_NODE,
                "cluster_port": None,
                "routes": [],
                "moving_in": manifest.awaited(),
            }
        )
        write_atomic(staged / hub.config_file.name, restored.model_dump_json(indent=2))
        for name in KEPT:
            if (hub.path / name).is_dir():
                shutil.copytree(hub.path / name, staged / name)
        for name in KEPT_FILES:
            if (hub.path / name).is_file():
                shutil.copy2(hub.path / name, staged / name)
        about = {"format": FORMAT, "made_at": now_iso(), "operator": config.operator}
        write_atomic(staged / MANIFEST, json.dumps(about, indent=2))
        part = out.with_name(out.name + ".part")
        descriptor = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, SECRET_MODE)
        with os.fdopen(descriptor, "wb") as raw:
            sealer = None if passphrase is None else SealingWriter(raw, passphrase, SEALED)
            into = cast(BinaryIO, raw if sealer is None else sealer)
            with tarfile.open(fileobj=into, mode="w:gz") as tar:
                for path in sorted(staged.iterdir()):
                    tar.add(path, arcname=path.name)
            if sealer is not None:
                sealer.finish()
        os.replace(part, out)
    return Made(
        out,
        out.stat().st_size,
        len(manifest.streams),
        sum(s.messages for s in manifest.streams),
    )


def is_sealed(archive: Path) -> bool:
    """Whether ``archive`` is a backup sealed with a passphrase."""
    try:
        with archive.open("rb") as raw:
            return raw.read(len(SEALED)) == SEALED
    except OSError as exc:
        raise ConfigError(f"{archive} cannot be read: {exc.strerror}") from exc


def restore(archive: Path, target: Path, passphrase: str | None = None) -> HubDir:
    """Unpack ``archive`` into the new hub directory ``target`` (made whole, or not at
    all); its first ``hub up`` brings the streams back. A sealed one needs its
    ``passphrase``."""
    if target.exists() and any(target.iterdir()):
        raise ConfigError(f"{target} is not empty: restore into a new directory")
    if not is_sealed(archive):
        return _unpack(archive, target)
    if passphrase is None:
        raise ConfigError(f"{archive} is sealed with a passphrase: give it to restore")
    ensure_dir(target.parent)
    opened = target.with_name(target.name + ".opened")
    try:
        descriptor = os.open(opened, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, SECRET_MODE)
        with archive.open("rb") as source, os.fdopen(descriptor, "wb") as out:
            source.read(len(SEALED))
            open_sealed(source, out, passphrase, SEALED)
        return _unpack(opened, target, archive)
    finally:
        opened.unlink(missing_ok=True)


def _unpack(archive: Path, target: Path, named: Path | None = None) -> HubDir:
    """Unpack the plain archive ``archive`` (``named`` in what is said) into ``target``."""
    named = named or archive
    part = target.with_name(target.name + ".restoring")
    shutil.rmtree(part, ignore_errors=True)
    ensure_dir(part)
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            _check_manifest(tar, named)
            tar.extractall(part, filter="data")  # no links out, no absolute or .. paths
    except (OSError, tarfile.TarError, EOFError) as exc:
        shutil.rmtree(part, ignore_errors=True)
        raise ConfigError(f"{named} is not a whole natster hub backup: {exc}") from exc
    except ConfigError:
        shutil.rmtree(part, ignore_errors=True)
        raise
    for folder in (part / "keys", part / "tls"):
        if folder.is_dir():
            for secret in folder.rglob("*"):
                if secret.is_file() and secret.suffix in (".nk", ".creds", ".key", ".seed"):
                    secret.chmod(SECRET_MODE)
    (part / MANIFEST).unlink()
    if target.exists():
        target.rmdir()
    os.replace(part, target)
    return HubDir(target)


def _check_manifest(tar: tarfile.TarFile, archive: Path) -> None:
    """A natster hub backup of a format this natster reads, or a ConfigError saying not."""
    try:
        member = tar.extractfile(MANIFEST)
        about = json.load(io.TextIOWrapper(member)) if member is not None else None
    except (KeyError, ValueError, tarfile.TarError) as exc:
        raise ConfigError(f"{archive} is not a natster hub backup (no manifest)") from exc
    if not isinstance(about, dict):
        raise ConfigError(f"{archive} is not a natster hub backup (no manifest)")
    if about.get("format") != FORMAT:
        raise ConfigError(
            f"{archive} is a backup of format {about.get('format')}, and this natster "
            f"reads format {FORMAT}: restore it with a natster of its time"
        )
