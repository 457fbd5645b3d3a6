"""How a running hub is: its nodes (up or down, connections) and every stream's and
bucket's replicas, leader and lag, as nats-server itself reports them."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from natster import limits
from natster._nats import Client, connect, mapped
from natster.errors import NatsterError
from natster.hub.state import HubDir

_ASK_S = 1.0  # how long the servers have to answer a ping (every node answers once)
_ACCOUNTS = ("global", "accounts")  # the platform accounts that keep streams


async def gather(nc: Client, subject: str, alone: bool) -> list[dict[str, Any]]:
    """Every server's answer to a ``$SYS.REQ.SERVER.PING`` request within ``_ASK_S`` (a
    hub of one node: its one answer)."""
    answers: list[dict[str, Any]] = []
    done = asyncio.Event()
    inbox = nc.new_inbox()

    async def got(msg: Any) -> None:
        with contextlib.suppress(ValueError):
            answers.append(json.loads(msg.data))
        if alone:
            done.set()

    with mapped("nats-server"):
        sub = await nc.subscribe(inbox, cb=got)
        await nc.publish(subject, b"", reply=inbox)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), _ASK_S)
        await sub.unsubscribe()
    return answers


def _nodes(stats: list[dict[str, Any]], jsz: list[dict[str, Any]]) -> tuple[list[Any], str]:
    nodes: dict[str, dict[str, Any]] = {}
    for answer in stats:
        name = answer.get("server", {}).get("name", "?")
        statsz = answer.get("statsz", {})
        nodes[name] = {
            "name": name,
            "up": True,
            "connections": statsz.get("connections", 0),
            "routes": len(statsz.get("routes") or []),
        }
    leader = ""
    for answer in jsz:  # the metadata group: it also knows the nodes that are down
        meta = (answer.get("data") or {}).get("meta_cluster") or {}
        leader = leader or meta.get("leader", "")
        for peer in meta.get("replicas") or []:
            if peer.get("name") not in nodes:
                nodes[peer["name"]] = {
                    "name": peer["name"],
                    "up": False,
                    "connections": None,
                    "routes": None,
                }
    return sorted(nodes.values(), key=lambda n: n["name"]), leader


async def _streams(hub: HubDir, url: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for role in _ACCOUNTS:
        nc = await connect(url, hub.creds(role), name="natster-status", trust=hub.trust())
        try:
            with mapped("JetStream"):
                infos = await nc.jetstream(timeout=limits.HUB_READY_TIMEOUT_S).streams_info()
        except NatsterError as exc:
            rows.append({"account": role, "name": None, "error": str(exc)})
            continue
        finally:
            await nc.close()
        for info in sorted(infos, key=lambda i: i.config.name or ""):
            cluster = info.cluster
            peers = (cluster.replicas or []) if cluster is not None else []
            rows.append(
                {
                    "account": role,
                    "name": info.config.name,
                    "replicas": info.config.num_replicas or 1,
                    "leader": cluster.leader if cluster is not None else None,
                    "messages": info.state.messages,
                    "lag": {p.name: p.lag or 0 for p in peers},
                    "current": all(p.current for p in peers),
                }
            )
    return rows


async def hub_health(hub: HubDir) -> dict[str, Any]:
    """Every node and stream of the running hub in ``hub``, as JSON-ready data."""
    state = hub.require_running()
    alone = not hub.load().clustered
    sys_nc = await connect(
        state.local_url, hub.creds("sys"), name="natster-status", trust=hub.trust()
    )
    try:
        stats = await gather(sys_nc, "$SYS.REQ.SERVER.PING.STATSZ", alone)
        jsz = await gather(sys_nc, "$SYS.REQ.SERVER.PING.JSZ", alone)
    finally:
        await sys_nc.close()
    nodes, leader = _nodes(stats, jsz)
    return {
        "node": hub.load().node,
        "meta_leader": leader or None,
        "nodes": nodes,
        "streams": await _streams(hub, state.local_url),
    }
