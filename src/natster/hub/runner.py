"""``natster hub up``: nats-server plus the account service, started and stopped as one."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypedDict, Unpack
from urllib.parse import urlsplit

from natster import subjects, wire
from natster._bucket import Bucket
from natster._clock import now_iso
from natster._formats import HUB_FORMAT
from natster._fs import PUBLIC_MODE, ensure_dir, write_atomic
from natster._nats import Client, Trust, connect, wait_for_jetstream
from natster._quiet import quietly
from natster.errors import HubAlreadyRunning, HubError, NatsterError
from natster.hub import tls
from natster.hub.accounts import claims as platform_claims
from natster.hub.accounts.account_service import AccountService
from natster.hub.accounts.resolver import Resolver
from natster.hub.accounts.serving import serving_key
from natster.hub.cluster import growth
from natster.hub.cluster.node_join import JoinService, route_url
from natster.hub.entry.doorstep import Doorstep, DoorstepKeys
from natster.hub.entry.guests import GuestWarden, signin_key
from natster.hub.process.binary import find_nats_server
from natster.hub.process.server import NatsServer, reload, render_config, stop_leftover
from natster.hub.state import HubConfig, HubDir, RunState
from natster.hub.tls import TlsFiles
from natster.security import KeyPair
from natster.security.jwt import AccountClaims

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4222


@dataclass(frozen=True)
class _Launched:
    local_url: str
    url: str  # what invites carry
    trust: Trust | None
    pin: str | None
    tls_name: str | None
    server_pid: int
    resolver: Resolver
    sys: Client  # the system account's connection (the resolver's, the warden's)


class HubOptions(TypedDict, total=False):
    """How this node runs: ``hub up``'s options. What is not given comes from the hub
    directory's ``hub.json`` (:class:`~natster.hub.state.HubConfig`), where what is
    given is kept for next time."""

    host: str | None  # where clients connect [127.0.0.1]
    port: int | None  # [4222]
    advertise: str | None  # the URL invites carry, when not this host and port
    nats_server: str | None  # the nats-server binary [bundled]
    tls_cert: Path | None  # the server's own certificate and key, with their CA
    tls_key: Path | None
    tls_ca: Path | None
    insecure_plain: bool  # plain TCP, no TLS
    cluster_port: int | None  # found or grow a cluster: where routes listen
    node: str | None  # this node's name in the cluster
    web_port: int | None  # serve the web app (HTTPS) here
    ws_port: int | None  # its NATS over WebSocket [web_port + 1]
    monitor_port: int | None  # nats-server's monitoring, on 127.0.0.1 (0: none)


@dataclass(frozen=True)
class HubInfo:
    dir: Path
    url: str
    local_url: str
    operator: str
    created: bool  # True on the very first start of this directory
    ca_pin: str | None = None  # the sha256 of the CA invites pin (None: plain TCP)


def desired_platform_accounts(
    config: HubConfig, doorstep: DoorstepKeys, signing: KeyPair
) -> list[AccountClaims]:
    accounts = config.accounts
    hub_serving = serving_key(signing, accounts["hub"]).public_key
    return [
        doorstep.account_claims(accounts["signup"]),
        platform_claims.signin_account(signin_key(signing).public_key, global_=accounts["global"]),
        platform_claims.accounts_account(accounts["accounts"], global_=accounts["global"]),
        platform_claims.global_account(accounts["global"]),
        platform_claims.signup_account(
            accounts["signup"], accounts=accounts["accounts"], global_=accounts["global"]
        ),
        platform_claims.serving_account(hub_serving, accounts["hub"], "hub"),  # imported next
        platform_claims.user_account(
            accounts["hub"],
            "hub",
            accounts=accounts["accounts"],
            global_=accounts["global"],
            serving=hub_serving,
        ),
    ]


class Hub:
    """A running hub. Use as ``async with Hub(...) as info:``, or :meth:`start`/:meth:`stop`."""

    def __init__(self, path: Path, **options: Unpack[HubOptions]) -> None:
        self.dir = HubDir(path.expanduser().resolve())
        self.options = options
        self._web = _web_ports(options.get("web_port"), options.get("ws_port"))
        monitor = options.get("monitor_port")  # kept for next time, as the web ports; 0: none
        self._monitor = {} if monitor is None else {"monitor_port": monitor or None}
        self._cluster_port = options.get("cluster_port")
        self._node = options.get("node")
        self._host = options.get("host")
        self._port = options.get("port")
        self._advertise = options.get("advertise")
        self._nats_server = options.get("nats_server")
        self._tls = _tls_settings(
            options.get("tls_cert"),
            options.get("tls_key"),
            options.get("tls_ca"),
            options.get("insecure_plain", False),
        )
        self._lock: IO[bytes] | None = None
        self.tls_files: TlsFiles | None = None  # what the server presents (None: plain)
        self.web_names: list[str] = []  # what the web app answers to (tls.web_names)
        self._server: NatsServer | None = None
        self._clients: list[Client] = []
        self.account_service: AccountService | None = None
        self._join_service: JoinService | None = None
        self._doorstep: Doorstep | None = None
        self._warden: GuestWarden | None = None
        self.resolver: Resolver | None = None
        self._background: list[asyncio.Task[object]] = []
        # re-signs accounts made by an older natster; await it to know they are current
        self.accounts_refreshed: asyncio.Task[int] | None = None

    async def __aenter__(self) -> HubInfo:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> HubInfo:
        binary = find_nats_server(self._nats_server)
        ensure_dir(self.dir.path)
        self._take_lock()
        try:
            return await self._start(binary)
        except BaseException:
            await self.stop()
            raise

    def _take_lock(self) -> None:
        handle = self.dir.lock_file.open("wb")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.close()
            raise HubAlreadyRunning(f"a hub is already running from {self.dir.path}") from exc
        self._lock = handle

    async def _start(self, binary: Path) -> HubInfo:
        hub = self.dir
        stale = hub.stale_run_state()
        if stale is not None and stop_leftover(stale.server_pid, hub.server_conf):
            log.warning("stopped nats-server %d left running by a crashed hub", stale.server_pid)
        created = not hub.exists()
        if created:
            config = hub.create(self._host or DEFAULT_HOST, self._port or DEFAULT_PORT)
        else:
            config = hub.load()
        changed: dict[str, object] = {
            "host": self._host or config.host,
            "port": self._port or config.port,
            # a hub made before the doorstep (or signin) learns its key (derived, not stored)
            "accounts": {
                **config.accounts,
                "doorstep": self._doorstep_keys.account.public_key,
                "signin": signin_key(self._signing).public_key,
            },
        }
        if config.format < HUB_FORMAT:  # made by an older natster: brought up to date
            log.warning(
                "the hub directory %s was made by natster 0.1 (format %d): now format %d; "
                "its accounts are brought to today's standard at this start",
                hub.path,
                config.format,
                HUB_FORMAT,
            )
            changed["format"] = HUB_FORMAT
        cluster = self._cluster(config, created)
        config = config.model_copy(update={**changed, **self._tls, **self._web, **self._monitor})
        if cluster and not created and not config.clustered:  # one node grows: its data too
            hub.save(config)
            cluster["moving_in"] = (await self._save_single_node(binary, config)).awaited()
        config = config.model_copy(update=cluster)
        hub.save(config)
        if config.moving_in:
            growth.set_aside(hub)
        up = await self._launch(binary, config)
        local_url, url, trust = up.local_url, up.url, up.trust
        self.resolver = up.resolver

        accounts_client = await connect(
            local_url, hub.creds("accounts"), name="natster-accounts", trust=trust, reconnect=True
        )
        self._clients.append(accounts_client)
        hub.write_run_state(
            RunState(
                pid=os.getpid(),
                server_pid=up.server_pid,
                url=url,
                local_url=local_url,
                started_at=now_iso(),
                ca_pin=up.pin,
                tls_name=up.tls_name,
            )
        )
        if config.clustered:  # nodes may join before JetStream answers (most nodes up)
            self._join_service = JoinService(hub)
            await self._join_service.start(accounts_client)
            await wait_for_jetstream(accounts_client, _waiting_for_nodes(hub, config))
        if config.moving_in:  # a single node's data into a cluster, or a backup restored
            await growth.bring_in(hub, config.moving_in, self._connector(local_url, trust))
            hub.save(hub.load().model_copy(update={"moving_in": {}}))
            kept = growth.finish(hub)
            if kept is not None:
                log.info("the saved streams are in; their snapshots are kept in %s", kept)
        self.account_service = await AccountService.open(
            accounts_client, up.resolver, config, self._signing
        )
        await self.account_service.start()
        self._doorstep = Doorstep(
            self._doorstep_keys,
            hub.seed("signup"),
            await Bucket.open(accounts_client.jetstream(), subjects.INVITES_BUCKET),
        )
        await self._doorstep.start(local_url, trust)
        self._warden = GuestWarden(up.sys, signin_key(self._signing).public_key)
        await self._warden.start()
        self.accounts_refreshed = asyncio.create_task(self.account_service.refresh_accounts())
        self._background.append(self.accounts_refreshed)
        if config.tls == "own":
            self._background.append(asyncio.create_task(self._renew_certificate()))
        log.info("hub ready at %s (dir %s)", url, hub.path)
        return HubInfo(hub.path, url, local_url, config.operator, created, up.pin)

    @functools.cached_property
    def _signing(self) -> KeyPair:
        """The operator signing key, read once, when first needed (after a new hub's
        keys are made)."""
        return self.dir.seed("operator-signing")

    @functools.cached_property
    def _doorstep_keys(self) -> DoorstepKeys:
        """Derived once, when first needed."""
        return DoorstepKeys.of(self._signing)

    async def _launch(self, binary: Path, config: HubConfig) -> _Launched:
        """nats-server started with ``config``, answering, the platform accounts current."""
        hub = self.dir
        local_url, url, files, tls_name = self._addresses(config)
        trust = None if files is None else Trust(tls.ca_pem(files), hostname=tls_name)
        self.tls_files = files
        self.web_names = tls.web_names(files, config.host, url)
        ensure_dir(hub.resolver_dir)
        ensure_dir(hub.jetstream_dir)
        sentinel = self._doorstep_keys.sentinel_jwt()
        conf = render_config(
            hub, config.host, config.port, files, url, sentinel=sentinel, web_names=self.web_names
        )
        write_atomic(hub.server_conf, conf, PUBLIC_MODE)

        _check_ports_free(
            config.host,
            {
                "--port": config.port,
                "--cluster-port": config.cluster_port,
                "--web-port": config.web_port,
                "--ws-port": config.ws_port,
                "--monitor-port": config.monitor_port,
            },
        )
        self._server = NatsServer(binary, hub.server_conf, hub.log_file, hub.stderr_file)
        await self._server.start()
        sys_client = await self._server.wait_ready(local_url, hub.creds("sys"), trust)
        self._clients.append(sys_client)
        trusted = {config.operator, config.signing_key}
        resolver = Resolver(sys_client, self._signing, trusted)
        for claims in desired_platform_accounts(config, self._doorstep_keys, self._signing):
            current = await resolver.lookup(claims.sub)
            if current is None or current.nats != claims.nats:
                await resolver.push(claims)
        pin = None if files is None else tls.ca_pin(files)  # what invites carry
        return _Launched(
            local_url, url, trust, pin, tls_name, self._server.pid, resolver, sys_client
        )

    async def _save_single_node(self, binary: Path, config: HubConfig) -> growth.Manifest:
        """The hub runs once more as one node, only to save its streams (hub/cluster/growth.py)."""
        log.info("saving this hub's data to bring it into the cluster")
        up = await self._launch(binary, config)
        try:
            return await growth.save_all(
                self.dir, self._connector(up.local_url, up.trust), config.node
            )
        finally:
            await self._stop_server()

    async def _stop_server(self) -> None:
        """Close this hub's own connections, then stop its nats-server."""
        for client in reversed(self._clients):
            with quietly(log, "closing a hub connection"):
                await client.close()
        self._clients.clear()
        if self._server is not None:
            await self._server.stop()
            self._server = None

    def _connector(self, url: str, trust: Trust | None) -> growth.Connect:
        async def connect_as(role: str) -> Client:
            return await connect(url, self.dir.creds(role), name=f"natster-{role}", trust=trust)

        return connect_as

    def _cluster(self, config: HubConfig, created: bool) -> dict[str, object]:
        """What ``cluster_port``/``node`` change: a new hub founds a cluster (its JetStream
        waits for a second node); a hub of one node grows into one, its data with it."""
        if self._cluster_port is None or self._cluster_port == config.cluster_port:
            return {}
        if self._node is not None and not re.fullmatch(wire.NODE_NAME, self._node):
            raise HubError("a node's name is letters, digits, '_', '.' and '-'")
        host = config.host if self._host is None else self._host
        route = route_url(host, self._cluster_port, self._advertise)
        own = [] if config.cluster_port is None else [route_url(host, config.cluster_port)]
        routes = [r for r in config.routes if r not in own]
        return {
            "cluster_port": self._cluster_port,
            "node": self._node or config.node,
            "routes": list(dict.fromkeys([route, *routes])),
        }

    async def _renew_certificate(self) -> None:
        """Renew the server certificate when a third of its life is left (while it runs)."""
        while True:
            await asyncio.sleep(tls.RENEW_CHECK_S)
            try:
                if rotate(self.dir, only_if_due=True):
                    log.info("renewed the hub's TLS certificate")
            except NatsterError as exc:
                log.warning("could not renew the hub's TLS certificate: %s", exc)

    def _addresses(self, config: HubConfig) -> tuple[str, str, TlsFiles | None, str | None]:
        """Where this machine reaches the hub, what invites carry, the TLS material, and
        the name local connections check (when the certificate does not name 127.0.0.1)."""
        scheme = "nats" if config.tls == "plain" else "tls"
        local_url = f"{scheme}://{_local_host(config.host)}:{config.port}"
        url = self._advertise or local_url
        if urlsplit(url).scheme != scheme:
            raise HubError(
                f"invites would carry {url}, but this hub speaks "
                f"{'plain TCP' if scheme == 'nats' else 'TLS'}: advertise {scheme}://HOST:PORT"
            )
        if config.tls == "own":
            names = tls.default_names(config.host, self._advertise)
            return local_url, url, tls.ensure_own(self.dir.tls_dir, names), None
        files = self.dir.tls_files(config)
        return local_url, url, files, None if files is None else urlsplit(url).hostname

    async def stop(self) -> None:
        for task in self._background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError), quietly(log, "stopping a hub task"):
                await task
        self._background.clear()
        if self._doorstep is not None:
            await self._doorstep.stop()
            self._doorstep = None
        if self._warden is not None:
            await self._warden.stop()
            self._warden = None
        if self.account_service is not None:
            with quietly(log, "stopping the account service"):
                await self.account_service.stop()
            self.account_service = None
        if self._join_service is not None:
            with quietly(log, "stopping the node join service"):
                await self._join_service.stop()
            self._join_service = None
        await self._stop_server()
        if self._lock is not None:
            self.dir.clear_run_state()
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None


def _web_ports(web_port: int | None, ws_port: int | None) -> dict[str, int]:
    """``--web-port`` (and ``--ws-port``, else the next port) as HubConfig fields."""
    if web_port is None:
        if ws_port is not None:
            raise HubError("--ws-port goes with --web-port (the web app's own port)")
        return {}
    ws = web_port + 1 if ws_port is None else ws_port
    if ws == web_port:
        raise HubError("the web app and its WebSocket listener need two ports")
    return {"web_port": web_port, "ws_port": ws}


def rotate(hub: HubDir, *, only_if_due: bool = False) -> bool:
    """A new server certificate under the hub's CA, loaded by the running nats-server
    (users notice nothing: the CA they trust is the same). With an operator's
    certificate, the server reads its files again. False if nothing was due."""
    state = hub.require_running()
    config = hub.load()
    if config.tls == "plain":
        raise HubError("this hub runs without TLS (--insecure-plain): there is nothing to rotate")
    if config.tls == "own":
        advertised = state.url if state.url != state.local_url else None
        names = tls.default_names(config.host, advertised)
        if only_if_due and not tls.needs_renewal(hub.tls_dir, names):
            return False
        tls.issue_server(hub.tls_dir, names)
    elif only_if_due:
        return False
    reload(state.server_pid, hub.server_conf)
    return True


def _tls_settings(
    cert: Path | None, key: Path | None, ca: Path | None, plain: bool
) -> dict[str, object]:
    """The hub's TLS mode from ``hub up``'s options (each start says it anew)."""
    if plain:
        if cert or key:
            raise HubError("--insecure-plain and a TLS certificate: choose one")
        return {"tls": "plain", "tls_cert": None, "tls_key": None, "tls_ca": None}
    if bool(cert) != bool(key):
        raise HubError("--tls-cert and --tls-key go together")
    if cert and key:
        paths = [str(p.expanduser().resolve()) if p else None for p in (cert, key, ca)]
        return {"tls": "operator", "tls_cert": paths[0], "tls_key": paths[1], "tls_ca": paths[2]}
    return {"tls": "own", "tls_cert": None, "tls_key": None, "tls_ca": None}


def _check_ports_free(host: str, ports: dict[str, int | None]) -> None:
    """Refuse at once, in words, when something already listens on any of the hub's
    ports: every one taken, each with the option that chooses it."""
    taken: list[str] = []
    why = ""
    for option, port in ports.items():
        if port is None:
            continue
        try:
            with socket.create_server((host or "0.0.0.0", port)):  # noqa: S104 (what nats-server binds)
                pass
        except OSError as exc:
            taken.append(f"{port} ({option})")
            why = why or str(exc.strerror)
    if taken:
        many = len(taken) > 1
        raise HubError(
            f"{'ports' if many else 'port'} {', '.join(taken)} on {host or 'all addresses'} "
            f"{'are' if many else 'is'} already in use ({why}): another hub or program "
            f"listens there; choose {'others' if many else 'another'} with "
            f"{'those options' if many else 'that option'}"
        )


def _waiting_for_nodes(hub: HubDir, config: HubConfig) -> str:
    """What a node says while its cluster has too few nodes up for JetStream."""
    nodes = len(set(config.routes))
    known = (
        f"needs {nodes // 2 + 1} of its {nodes} nodes up"
        if nodes > 1
        else "needs most of its nodes up, and this is the first"
    )
    return (
        f"waiting for the cluster: its data {known} (this node: {config.node}). "
        f"Start its other nodes with `natster hub up`, or add one: run `natster hub node "
        f"invite --dir {hub.path}` here, then `natster hub up --join TOKEN` on that machine"
    )


def _local_host(host: str) -> str:
    return "127.0.0.1" if host in ("", "0.0.0.0", "::", "[::]") else host  # noqa: S104


__all__ = ["Hub", "HubInfo", "NatsterError"]
