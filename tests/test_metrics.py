"""`hub up --metrics-port`: Prometheus metrics and /healthz, against a real hub."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import pytest
from nats.aio.msg import Msg

from natster import _nats, endpoints, subjects
from natster.client import Home, NatsterClient, join
from natster.client.transfer import Transfer
from natster.errors import RemoteError
from natster.hub import mint_short_invite
from natster.services.metrics import Metrics, metrics_part
from natster.services.platform import Platform

from .conftest import World, eventually, free_port, shared_and_imported

pytestmark = pytest.mark.heavy


def _value(text: str, metric: str) -> float:
    found = re.search(rf"^{re.escape(metric)} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert found, f"{metric} is not in:\n{text[:3000]}"
    return float(found.group(1))


async def test_metrics_count_people_requests_and_refusals_and_healthz_says_what_is_down(
    tmp_path: Path,
) -> None:
    port = free_port()
    platform = Platform(tmp_path / "hub", port=free_port(), parts=[metrics_part(port)])
    await platform.start()
    try:
        metrics = platform._parts[-1]
        assert isinstance(metrics, Metrics)
        clients = []
        for name in ("alice", "bob"):
            home = Home(tmp_path / name)
            await join((await mint_short_invite(platform.dir, 600)).encode(), home=home, name=name)
            clients.append(await NatsterClient.connect(home))
        with pytest.raises(RemoteError):  # a refusal, counted by its code
            await clients[0].request(endpoints.EVENTS_PUT.local(), b'{"type": 1}')
        await metrics.check()
        base = f"http://127.0.0.1:{port}"
        page = await asyncio.to_thread(httpx.get, f"{base}/metrics", timeout=5)
        assert page.status_code == 200
        text = page.text
        assert _value(text, "natster_people") == 2
        assert _value(text, "natster_people_online") == 2
        assert _value(text, "natster_connections") >= 2
        assert _value(text, "natster_jetstream_bytes") > 0
        assert _value(text, "natster_up") == 1
        # (labels in the order Prometheus's exposition sorts them)
        refused = 'code="400",endpoint="events.put",service="natster-global"'
        assert _value(text, f"natster_requests_total{{{refused}}}") >= 1
        info = 'code="200",endpoint="info",service="natster-accounts"'
        assert _value(text, f"natster_requests_total{{{info}}}") >= 2
        assert "natster_request_seconds_bucket{" in text
        healthy = await asyncio.to_thread(httpx.get, f"{base}/healthz", timeout=5)
        assert (healthy.status_code, healthy.text) == (200, "ok\n")
        await clients[1].close()  # bob goes: one person online of two

        async def one_online() -> bool:
            await metrics.check()
            return _value(metrics.exposition().decode(), "natster_people_online") == 1

        await eventually(one_online, what="bob offline in natster_people_online")

        assert platform.global_service is not None
        await platform.global_service.stop()  # a service down: the check says which
        await metrics.check()
        down = await asyncio.to_thread(httpx.get, f"{base}/healthz", timeout=5)
        assert down.status_code == 503
        assert "natster-global" in down.text
        for client in clients:
            await client.close()
    finally:
        await platform.stop()


async def test_nats_servers_own_monitoring_listens_on_loopback_and_is_kept(
    tmp_path: Path,
) -> None:
    """`hub up --monitor-port P`: nats-server's /varz on 127.0.0.1 only; kept in hub.json
    for the next start, and `--monitor-port 0` ends it."""
    port = free_port()
    platform = Platform(tmp_path / "hub", port=free_port(), monitor_port=port)
    await platform.start()
    try:
        varz = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/varz", timeout=5)
        assert varz.status_code == 200
        assert varz.json()["server_name"] == platform.dir.load().node
        assert f'http: "127.0.0.1:{port}"' in platform.dir.server_conf.read_text()
    finally:
        await platform.stop()
    assert platform.dir.load().monitor_port == port
    again = Platform(tmp_path / "hub", port=free_port(), monitor_port=0)
    await again.start()
    try:
        assert again.dir.load().monitor_port is None
        assert "http:" not in again.dir.server_conf.read_text()
    finally:
        await again.stop()


async def test_transfers_open_come_from_heartbeats_once_the_hub_says_it_takes_them(
    world: World,
) -> None:
    """Catalog servers count their open transfers in heartbeats; the field goes only to a
    hub whose reply listed it (an older hub refuses fields it does not know)."""
    hub = world.hub
    seen: list[dict[str, object]] = []
    watcher = await _nats.connect(
        hub.info.local_url, hub.dir.creds("global"), name="t-watch", trust=hub.dir.trust()
    )
    metrics = Metrics(hub.platform, hub.info, free_port())
    await metrics.start()
    try:

        async def heard(msg: Msg) -> None:
            seen.append(json.loads(msg.data))

        beats = await watcher.subscribe(subjects.global_listen("heartbeats.put"), cb=heard)
        await watcher.flush()
        ref = await shared_and_imported(world)
        fresh = await NatsterClient.connect(world.alice.home)  # has heard no reply yet
        try:
            await fresh.heartbeat("films", 1, transfers=5)
            await fresh.heartbeat("films", 1, transfers=5)
        finally:
            await fresh.close()

        async def both_seen() -> bool:
            return len(seen) == 2

        await eventually(both_seen, what="both heartbeats seen")
        assert "transfers" not in seen[0]  # not before the hub said it takes it
        assert seen[1]["transfers"] == 5
        await beats.unsubscribe()

        async def open_now(count: int) -> bool:
            await world.server._beat("films")
            await metrics.check()
            return _value(metrics.exposition().decode(), "natster_transfers_open") == count

        async with Transfer(world.bob, ref, path="music.mp3") as transfer:
            await transfer.open()
            await eventually(lambda: open_now(1), what="one transfer open")
        await eventually(lambda: open_now(0), what="no transfer open")
    finally:
        await metrics.stop()
        await watcher.close()
