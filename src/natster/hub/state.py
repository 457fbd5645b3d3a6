"""A hub's directory: its keys, platform accounts, server config and run state.

Layout under ``--dir``::

    hub.json        public facts: operator and platform account keys, host, port
    keys/           seeds and service creds (0600, directory 0700)
    operator.jwt    the operator JWT nats-server trusts
    nats.conf       generated on every start
    jwt/            the full resolver's account JWTs
    jetstream/      JetStream storage
    tls/            the hub's CA and server certificate (see natster.hub.tls)
    run.json        present while the hub runs: pid, urls, TLS pin, started_at
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from natster._clock import now_iso
from natster._formats import HUB_FORMAT, format_of, refuse_newer
from natster._fs import PUBLIC_MODE, ensure_dir, write_atomic
from natster._tls import Trust
from natster.errors import ConfigError, HubNotRunning
from natster.hub import tls
from natster.hub.accounts import claims as platform_claims
from natster.hub.accounts.serving import serving_key
from natster.hub.tls import TlsFiles
from natster.security import Creds, KeyKind, KeyPair
from natster.security import jwt as jwtlib

PLATFORM = ("sys", "accounts", "global", "hub", "signup")
DEFAULT_NODE = "natster-hub"
CLUSTER_NAME = "natster"
SERVICE_USERS = ("sys", "accounts", "global", "hub")


class HubConfig(BaseModel):
    operator: str
    signing_key: str
    accounts: dict[str, str]  # role -> account public key
    host: str = "127.0.0.1"
    port: int = 4222
    created_at: str
    # "own": the hub's CA; "operator": tls_cert/tls_key (tls_ca: whom clients trust);
    # "plain": no TLS, only when asked for (--insecure-plain)
    tls: Literal["own", "operator", "plain"] = "own"
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    # a cluster (docs/architecture.md): this node's name (nats-server's server_name, unique in
    # the cluster), the port its routes listen on (None: a hub of one node), and the
    # route URLs of every node it knows (its own too: nats-server skips itself)
    node: str = DEFAULT_NODE
    cluster_port: int | None = None
    routes: list[str] = []
    # the web app (`hub up --web-port`): HTTPS for its pages, WebSocket (wss) for NATS
    web_port: int | None = None
    ws_port: int | None = None
    # nats-server's own monitoring (`hub up --monitor-port`): /varz, /connz, /jsz, on
    # 127.0.0.1 only
    monitor_port: int | None = None
    # a hub of one node growing into a cluster (hub/cluster/growth.py): the streams its data
    # brings in ("role/stream" -> last sequence), awaited before any service starts
    moving_in: dict[str, int] = {}
    format: int = HUB_FORMAT  # of this file (natster._formats): 1 when it says none

    @property
    def clustered(self) -> bool:
        return self.cluster_port is not None


class RunState(BaseModel):
    pid: int
    server_pid: int
    url: str  # what invites carry (``--advertise``, or the listen address)
    local_url: str  # how processes on this machine reach it
    started_at: str
    ca_pin: str | None = None  # the sha256 of the CA invites pin (None: plain TCP)
    tls_name: str | None = None  # the name local connections check, if not local_url's


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class HubDir:
    path: Path

    # --- locations -----------------------------------------------------------------
    @property
    def keys(self) -> Path:
        return self.path / "keys"

    @property
    def config_file(self) -> Path:
        return self.path / "hub.json"

    @property
    def operator_jwt(self) -> Path:
        return self.path / "operator.jwt"

    @property
    def sys_jwt(self) -> Path:
        return self.path / "sys.jwt"

    @property
    def server_conf(self) -> Path:
        return self.path / "nats.conf"

    @property
    def resolver_dir(self) -> Path:
        return self.path / "jwt"

    @property
    def tls_dir(self) -> Path:
        return self.path / "tls"

    def tls_files(self, config: HubConfig) -> TlsFiles | None:
        """The hub's TLS material as configured (None: plain TCP)."""
        if config.tls == "plain":
            return None
        if config.tls == "operator" and config.tls_cert and config.tls_key:
            ca = Path(config.tls_ca) if config.tls_ca else None
            return tls.operator_files(Path(config.tls_cert), Path(config.tls_key), ca)
        return tls.own_files(self.tls_dir)

    def trust(self) -> Trust | None:
        """What this machine's connections to the running hub believe (None: plain)."""
        state = self.require_running()
        files = self.tls_files(self.load())
        if files is None or state.ca_pin is None:
            return None
        return Trust(tls.ca_pem(files), hostname=state.tls_name)

    @property
    def jetstream_dir(self) -> Path:
        return self.path / "jetstream"

    @property
    def log_file(self) -> Path:
        return self.path / "nats.log"

    @property
    def run_file(self) -> Path:
        return self.path / "run.json"

    @property
    def lock_file(self) -> Path:
        return self.path / "hub.lock"

    @property
    def stderr_file(self) -> Path:
        return self.path / "nats.stderr"

    # --- creation and loading ------------------------------------------------------
    def exists(self) -> bool:
        return self.config_file.is_file()

    def load(self) -> HubConfig:
        if not self.exists():
            raise ConfigError(f"{self.path} is not a natster hub directory (no hub.json)")
        try:
            raw = self.config_file.read_bytes()
            found = format_of(raw)  # 1 when it says none: natster 0.1's
            refuse_newer(found, HUB_FORMAT, f"the hub directory {self.path}")
            config = HubConfig.model_validate_json(raw)
        except (OSError, ValidationError) as exc:
            raise ConfigError(f"{self.config_file} is damaged: {exc}") from exc
        return config.model_copy(update={"format": found})

    def create(self, host: str, port: int) -> HubConfig:
        """Make every key and the operator JWT. Seeds are written before anything names them."""
        ensure_dir(self.path)
        ensure_dir(self.keys)
        operator = KeyPair.create(KeyKind.OPERATOR)
        signing = KeyPair.create(KeyKind.OPERATOR)
        self._write_seed("operator", operator)
        self._write_seed("operator-signing", signing)
        accounts = {}
        for role in PLATFORM:
            pair = KeyPair.create(KeyKind.ACCOUNT)
            self._write_seed(role, pair)
            accounts[role] = pair.public_key
        for role in SERVICE_USERS:
            self._issue_service_user(role)
        claims = jwtlib.OperatorClaims(
            sub=operator.public_key,
            name="natster",
            nats=jwtlib.OperatorNats(
                signing_keys=[signing.public_key], system_account=accounts["sys"]
            ),
        )
        write_atomic(self.operator_jwt, jwtlib.encode(claims, operator), PUBLIC_MODE)
        sys_claims = platform_claims.system_account(accounts["sys"])
        write_atomic(self.sys_jwt, jwtlib.encode(sys_claims, signing), PUBLIC_MODE)
        config = HubConfig(
            operator=operator.public_key,
            signing_key=signing.public_key,
            accounts=accounts,
            host=host,
            port=port,
            created_at=now_iso(),
        )
        self.save(config)
        return config

    def save(self, config: HubConfig) -> None:
        write_atomic(self.config_file, config.model_dump_json(indent=2) + "\n", PUBLIC_MODE)

    def _write_seed(self, name: str, pair: KeyPair) -> None:
        write_atomic(self.keys / f"{name}.nk", pair.seed + "\n")

    def seed(self, name: str) -> KeyPair:
        try:
            return KeyPair.from_seed((self.keys / f"{name}.nk").read_text())
        except OSError as exc:
            raise ConfigError(f"the hub's {name} key is missing from {self.keys}") from exc

    def _issue_service_user(self, role: str) -> None:
        account = self.seed(role)
        user = KeyPair.create(KeyKind.USER)
        token = jwtlib.encode(jwtlib.user_claims(user.public_key, name=f"natster-{role}"), account)
        write_atomic(self.keys / f"{role}.creds", Creds(jwt=token, seed=user.seed).format())

    def creds(self, role: str) -> Creds:
        from natster.security import parse_creds

        try:
            return parse_creds((self.keys / f"{role}.creds").read_text())
        except OSError as exc:
            raise ConfigError(f"the hub's {role} credentials are missing from {self.keys}") from exc

    # --- run state -----------------------------------------------------------------
    def write_run_state(self, state: RunState) -> None:
        write_atomic(self.run_file, state.model_dump_json() + "\n", PUBLIC_MODE)

    def clear_run_state(self) -> None:
        self.run_file.unlink(missing_ok=True)

    def run_state(self) -> RunState | None:
        """The run state of a live hub, or None (a stale file from a crash is ignored)."""
        try:
            state = RunState.model_validate_json(self.run_file.read_bytes())
        except (OSError, ValidationError):
            return None
        if not _pid_alive(state.pid):
            return None
        return state

    def stale_run_state(self) -> RunState | None:
        """The run state a crashed hub left behind (its natster process is gone)."""
        try:
            state = RunState.model_validate_json(self.run_file.read_bytes())
        except (OSError, ValidationError):
            return None
        return None if _pid_alive(state.pid) else state

    def require_running(self) -> RunState:
        state = self.run_state()
        if state is None:
            raise HubNotRunning(
                f"the hub in {self.path} is not running: start it with "
                f"`natster hub up --dir {self.path}`"
            )
        return state

    def user_accounts(self) -> list[str]:
        """Account keys in the resolver that are not the hub's own, nor serving accounts."""
        platform = set(self.load().accounts.values())
        found = sorted(p.stem for p in self.resolver_dir.glob("A*.jwt"))
        signing = self.seed("operator-signing")
        serving = {serving_key(signing, key).public_key for key in [*found, *platform]}
        return [key for key in found if key not in platform and key not in serving]

    def describe(self) -> dict[str, Any]:
        config = self.load()
        state = self.run_state()
        return {
            "dir": str(self.path),
            "running": state is not None,
            "url": state.url if state else f"nats://{config.host}:{config.port}",
            "pid": state.pid if state else None,
            "started_at": state.started_at if state else None,
            "uptime_s": _uptime(state.started_at) if state else None,
            "operator": config.operator,
            "accounts": len(self.user_accounts()),
        }


def _uptime(started_at: str) -> int:
    started = datetime.fromisoformat(started_at).timestamp()
    return max(0, int(time.time() - started))
