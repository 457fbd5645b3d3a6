"""``hub up --metrics-port P``: Prometheus metrics and a health check, on loopback.

``/metrics`` (the Prometheus text format, from ``prometheus_client``) has the hub's
numbers, read every ``limits.METRICS_EVERY_S`` from nats-server (connections, bytes in
and out, slow consumers, JetStream storage, summed over the nodes that answer) and from
the global service (people, catalogs online, shares, transfers open as catalog servers
tell them in heartbeats), and every service's requests by
endpoint and status code with their latency (natster._metrics). ``/healthz`` answers
200 when nats-server, JetStream and the account and global services answered the last
check, else 503 with what did not. docs/deploy.md has a scrape config and what to alert
on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from natster import _metrics, limits
from natster._nats import Client, connect, mapped
from natster._quiet import quietly
from natster.errors import NatsterError
from natster.hub import HubInfo
from natster.hub.process.health import gather

if TYPE_CHECKING:
    from .platform import PartMaker, Platform

log = logging.getLogger(__name__)

_SERVER = {  # nats-server's VARZ field -> (metric, what it says)
    "connections": ("natster_connections", "Client connections open, every node"),
    "in_bytes": ("natster_received_bytes", "Bytes nats-server received since it started"),
    "out_bytes": ("natster_sent_bytes", "Bytes nats-server sent since it started"),
    "slow_consumers": ("natster_slow_consumers", "Clients cut off as slow consumers"),
}


class Metrics:
    """The metrics server of one hub node (a Platform part)."""

    def __init__(self, platform: Platform, info: HubInfo, port: int) -> None:
        self._platform = platform
        self._info = info
        self._port = port
        self.registry = CollectorRegistry()
        self._gauges = {
            field: Gauge(name, said, registry=self.registry)
            for field, (name, said) in _SERVER.items()
        }
        self._jetstream = Gauge(
            "natster_jetstream_bytes",
            "JetStream storage used (file), every node",
            registry=self.registry,
        )
        self._people = Gauge("natster_people", "Accounts of people", registry=self.registry)
        self._online = Gauge(
            "natster_catalogs_online", "Catalogs served now", registry=self.registry
        )
        self._shares = Gauge("natster_shares", "Active shares", registry=self.registry)
        self._transfers = Gauge(
            "natster_transfers_open",
            "Transfers open now, as catalog servers said in their last heartbeat",
            registry=self.registry,
        )
        self._people_online = Gauge(
            "natster_people_online",
            "People with a connection to the hub now (any device, any node)",
            registry=self.registry,
        )
        self._up = Gauge(
            "natster_up", "1 when the last health check passed", registry=self.registry
        )
        self.problems: list[str] = ["not checked yet"]
        self.checked_at = 0.0
        self._clients: dict[str, Client] = {}
        self._task: asyncio.Task[None] | None = None
        self._http: ThreadingHTTPServer | None = None

    async def start(self) -> None:
        hub = self._platform.dir
        for role in ("sys", "accounts", "global"):
            self._clients[role] = await connect(
                self._info.local_url,
                hub.creds(role),
                name=f"natster-metrics-{role}",
                trust=hub.trust(),
                reconnect=True,
            )
        await self.check()
        self._http = ThreadingHTTPServer(("127.0.0.1", self._port), _handler(self))
        threading.Thread(target=self._http.serve_forever, name="metrics", daemon=True).start()
        self._task = asyncio.create_task(self._every())
        log.info("metrics on http://127.0.0.1:%d/metrics (and /healthz)", self._port)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        for client in self._clients.values():
            with quietly(log, "closing a metrics connection"):
                await client.close()

    async def _every(self) -> None:
        while True:
            await asyncio.sleep(limits.METRICS_EVERY_S)
            with quietly(log, "reading the hub's metrics"):
                await self.check()

    async def check(self) -> None:
        """Read every number, and whether each part answers."""
        problems: list[str] = []
        config = self._platform.dir.load()  # read once per check
        alone = not config.clustered
        sys = self._clients["sys"]
        varz = await gather(sys, "$SYS.REQ.SERVER.PING.VARZ", alone)
        if not varz:
            problems.append("nats-server did not answer")
        for field, gauge in self._gauges.items():
            gauge.set(sum(_number((a.get("data") or {}).get(field)) for a in varz))
        jsz = await gather(sys, "$SYS.REQ.SERVER.PING.JSZ", alone)
        stored = [(a.get("data") or {}) for a in jsz]
        if not stored or any(s.get("disabled") for s in stored):
            problems.append("JetStream did not answer")
        self._jetstream.set(sum(_number(s.get("storage")) for s in stored))
        statz = await gather(sys, "$SYS.REQ.ACCOUNT.PING.STATZ", alone)
        connected = {
            account.get("acc")
            for answer in statz
            for account in ((answer.get("data") or {}).get("account_statz") or [])
            if _number(account.get("conns")) > 0
        }
        for role, service in (("accounts", "natster-accounts"), ("global", "natster-global")):
            if not await _pinged(self._clients[role], service):
                problems.append(f"the {service} service did not answer")
        mirror = self._platform.global_service.mirror if self._platform.global_service else None
        if mirror is not None:
            hub_account = config.accounts["hub"]
            self._people.set(sum(1 for a in mirror.accounts if a != hub_account))
            self._people_online.set(
                sum(1 for a in mirror.accounts if a != hub_account and a in connected)
            )
            self._online.set(len(mirror.presence))
            self._shares.set(len(mirror.shares))
            self._transfers.set(sum(_number(r.get("transfers")) for r in mirror.presence.values()))
        self.problems, self.checked_at = problems, time.monotonic()
        self._up.set(0 if problems else 1)

    def exposition(self) -> bytes:
        return generate_latest(self.registry) + generate_latest(_metrics.REGISTRY)

    def health(self) -> tuple[int, str]:
        stale = time.monotonic() - self.checked_at > 3 * limits.METRICS_EVERY_S
        problems = [*self.problems, *(["the last check is old"] if stale else [])]
        return (503, "; ".join(problems) + "\n") if problems else (200, "ok\n")


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


async def _pinged(nc: Client, service: str) -> bool:
    try:
        with mapped("a service"):
            await nc.request(f"$SRV.PING.{service}", b"", timeout=limits.METRICS_PING_S)
    except (NatsterError, TimeoutError):
        return False
    return True


def _handler(metrics: Metrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                status, kind, body = 200, CONTENT_TYPE_LATEST, metrics.exposition()
            elif self.path == "/healthz":
                status, said = metrics.health()
                kind, body = "text/plain; charset=utf-8", said.encode()
            else:
                status, kind, body = 404, "text/plain; charset=utf-8", b"/metrics or /healthz\n"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # Prometheus asks every few seconds: no line each time

    return Handler


def metrics_part(port: int) -> PartMaker:
    """The Platform part serving metrics on ``127.0.0.1:port``."""

    async def make(platform: Platform, info: HubInfo) -> Metrics:
        metrics = Metrics(platform, info, port)
        await metrics.start()
        return metrics

    return make
