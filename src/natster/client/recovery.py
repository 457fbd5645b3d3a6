"""``natster backup`` and ``natster init --restore``: a person's account, recovered.

The recovery file holds what only this machine has: the account key, the context (name,
hub, its CA) and the devices this machine added, sealed with a key argon2id makes from
a passphrase (PyNaCl, its "moderate" limits: half a second and 256 MiB here, so a
guess costs as much), in a NaCl secretbox. Restored on a new machine, the account
comes back with a new user key of its own (signed by the account key); the lost
machine's user is recorded as a device named ``lost-machine``, so ``natster device
revoke lost-machine`` cuts it off. Shares and imports live on the hub: they are all
there. A machine's catalogs are its folders: they are not in it.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ValidationError

from natster._clock import now_iso
from natster._fs import write_atomic
from natster._tls import Trust
from natster.errors import ConfigError, CryptoError
from natster.security import Creds, KeyKind, KeyPair
from natster.security import jwt as jwtlib
from natster.security.passphrase import SALT_BYTES, check_passphrase, key_from

from .context import Context, Home
from .devices import Device, DeviceBook
from .joining import _riding_out, _verify

__all__ = ["LOST", "restore_recovery", "write_recovery"]

if TYPE_CHECKING:
    from nacl.secret import SecretBox

MAGIC = b"natster-recovery-1\n"
LOST = "lost-machine"  # the device name the lost machine's user gets


class _Recovery(BaseModel):
    account_seed: str
    context: Context
    ca_pem: str | None
    devices: dict[str, Device]
    made_at: str


def write_recovery(home: Home, out: Path, passphrase: str) -> Path:
    """Seal this machine's account into ``out`` (0600, written whole)."""
    check_passphrase(passphrase)
    context = home.load()
    if context.device is not None:
        raise ConfigError("a device holds no account key: back up the machine that does")
    pem = home.ca_pem()
    body = _Recovery(
        account_seed=home.account_key().seed,
        context=context,
        ca_pem=None if pem is None else pem.decode("ascii"),
        devices=DeviceBook(home).load(),
        made_at=now_iso(),
    )
    salt = secrets.token_bytes(SALT_BYTES)
    sealed = _box(passphrase, salt).encrypt(body.model_dump_json().encode())
    write_atomic(out, MAGIC + salt + bytes(sealed))
    return out


async def restore_recovery(home: Home, file: Path, passphrase: str) -> Context:
    """Bring the account in ``file`` back into ``home`` (empty), with a user of its own."""
    home.require_empty()
    body = _open(file, passphrase)
    account = KeyPair.from_seed(body.account_seed)
    if account.public_key != body.context.account:
        raise ConfigError(f"{file} is damaged: its key is not its account's")
    user = KeyPair.create(KeyKind.USER)
    claims = jwtlib.user_claims(user.public_key, name=body.context.name)
    creds = Creds(jwt=jwtlib.encode(claims, account), seed=user.seed)
    context = body.context.model_copy(update={"user": user.public_key})
    ca_pem = body.ca_pem.encode("ascii") if body.ca_pem else None
    trust = None if ca_pem is None else Trust(ca_pem, hostname=context.tls_name)
    await _riding_out(lambda: _verify(context.url, creds, account.public_key, trust))
    home.save(context, account, creds, ca_pem)
    devices = dict(body.devices)
    devices[LOST] = Device(  # the lost machine: revocable like any device
        name=LOST,
        user=body.context.user,
        rights="full",
        host="the machine this account was restored from",
        added_at=body.context.initialized_at,
    )
    DeviceBook(home).save(devices)
    return context


def _open(file: Path, passphrase: str) -> _Recovery:
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{file} cannot be read: {exc.strerror}") from exc
    if not raw.startswith(MAGIC):
        raise ConfigError(f"{file} is not a natster recovery file (`natster backup` writes one)")
    salt = raw[len(MAGIC) : len(MAGIC) + SALT_BYTES]
    from nacl.exceptions import CryptoError as SealBroken

    try:
        opened = _box(passphrase, salt).decrypt(raw[len(MAGIC) + len(salt) :])
        return _Recovery.model_validate(json.loads(opened))
    except SealBroken as exc:
        raise CryptoError("that passphrase does not open this recovery file") from exc
    except (ValueError, ValidationError) as exc:
        raise ConfigError(f"{file} is damaged: {exc}") from exc


def _box(passphrase: str, salt: bytes) -> SecretBox:
    from nacl.secret import SecretBox

    return SecretBox(key_from(passphrase, salt, SecretBox.KEY_SIZE))
