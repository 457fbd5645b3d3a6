"""The user's context under ``$NATSTER_HOME``: who I am on which hub.

Files (all 0600, written atomically; ``context.json`` last, so its presence means
the rest is complete)::

    account.nk     the account seed: never leaves this machine
    user.creds     this machine's user JWT (signed by the account key) and seed
    hub-ca.pem     the CA the invite pinned: the only one trusted for the hub (TLS)
    context.json   account key, name, hub URL, user key, initialized at
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from natster._formats import HOME_FORMAT, format_of, refuse_newer
from natster._fs import PUBLIC_MODE, ensure_dir, natster_home, write_atomic
from natster._tls import Trust
from natster.errors import AlreadyInitialized, ConfigError, NatsterError, NotInitialized
from natster.security import Creds, KeyPair, parse_creds

__all__ = ["Context", "Home"]


log = logging.getLogger(__name__)


class Context(BaseModel):
    account: str
    name: str
    url: str
    user: str
    initialized_at: str
    tls_name: str | None = None  # the name the hub's certificate must hold, if not url's
    # a device of the account (client/devices.py): its name, rights and JWT's expiry;
    # None for the machine holding the account key
    device: str | None = None
    rights: Literal["full", "read-only"] = "full"
    expires_at: int | None = None
    format: int = HOME_FORMAT  # of this file (natster._formats): 1 when it says none


@dataclass(frozen=True)
class Home:
    path: Path

    @classmethod
    def default(cls) -> Home:
        return cls(natster_home())

    @property
    def context_file(self) -> Path:
        return self.path / "context.json"

    @property
    def account_seed_file(self) -> Path:
        return self.path / "account.nk"

    @property
    def creds_file(self) -> Path:
        return self.path / "user.creds"

    @property
    def devices_file(self) -> Path:
        """The devices added to this account from here (client/devices.py)."""
        return self.path / "devices.json"

    @property
    def ca_file(self) -> Path:
        return self.path / "hub-ca.pem"

    def trust(self, context: Context) -> Trust | None:
        """Whom connections to the hub believe: the CA pinned at ``init`` (None: a hub
        joined over plain TCP, which a tls:// URL refuses without a CA)."""
        ca_pem = self.ca_pem()
        return None if ca_pem is None else Trust(ca_pem, hostname=context.tls_name)

    def ca_pem(self) -> bytes | None:
        """The CA pinned at ``init`` (None: a hub joined over plain TCP)."""
        try:
            return self.ca_file.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(f"{self.ca_file} cannot be read: {exc.strerror}") from exc

    def initialized(self) -> bool:
        return self.context_file.exists() or self.account_seed_file.exists()

    def require_empty(self) -> None:
        if self.initialized():
            raise AlreadyInitialized(
                f"{self.path} already holds an account; "
                "use another NATSTER_HOME to join again or to join another hub"
            )

    def load(self) -> Context:
        if not self.context_file.exists():
            raise NotInitialized(
                f"no natster account in {self.path}: run `natster init --invite INVITE`"
            )
        try:
            raw = self.context_file.read_bytes()
            found = format_of(raw)
            refuse_newer(found, HOME_FORMAT, f"the natster home {self.path}")
            context = Context.model_validate_json(raw)
        except (OSError, ValidationError) as exc:
            raise ConfigError(f"{self.context_file} is damaged: {exc}") from exc
        if found < HOME_FORMAT:  # natster 0.1's: said once, written anew
            log.warning(
                "%s was made by natster 0.1 (format 1): now format %d (its catalog index "
                "gains song and photo tags when next opened)",
                self.path,
                HOME_FORMAT,
            )
            self.save_context(context)
        return context

    def creds(self) -> Creds:
        try:
            return parse_creds(self.creds_file.read_text())
        except OSError as exc:
            raise ConfigError(f"{self.creds_file} is missing: natster cannot connect") from exc

    def account_key(self) -> KeyPair:
        try:
            return KeyPair.from_seed(self.account_seed_file.read_text())
        except (OSError, NatsterError) as exc:
            raise ConfigError(f"{self.account_seed_file} is missing or damaged") from exc

    def save_context(self, context: Context) -> None:
        """Write the context alone (a rename): the keys and credentials stay as they are."""
        write_atomic(self.context_file, context.model_dump_json(indent=2) + "\n")

    def forget_account(self) -> None:
        """The account left the hub: its keys, credentials and context go (the catalogs
        stay, so `natster init` can join again and serve them)."""
        files = (self.context_file, self.creds_file, self.account_seed_file, self.ca_file)
        for path in (*files, self.devices_file):
            path.unlink(missing_ok=True)

    def save(
        self, context: Context, account: KeyPair | None, creds: Creds, ca_pem: bytes | None
    ) -> None:
        """Write the context (a device has no ``account`` key: it signs nothing)."""
        ensure_dir(self.path)
        if account is not None:
            write_atomic(self.account_seed_file, account.seed + "\n")
        write_atomic(self.creds_file, creds.format())
        if ca_pem is not None:
            write_atomic(self.ca_file, ca_pem, PUBLIC_MODE)
        else:
            self.ca_file.unlink(missing_ok=True)
        self.save_context(context)
