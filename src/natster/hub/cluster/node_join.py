"""Joining a node to a hub: a single-use node token, and the sealed bundle it buys.

``natster hub node invite`` stores the token's sha256 and expiry in the inviting node's
``node-invites.json`` and prints the token: that node's URL, the pin of its CA, its
name, the secret, and creds of a user of the hub's accounts account that may publish
only to ``natster.node.join.<node>`` and read only its own inbox, until the token
expires. No JetStream is involved: a founding node, whose JetStream waits for peers,
can invite them.

``natster hub up --join TOKEN`` checks the hub's certificate against the pin, then sends
its name, its route URL and a fresh xkey. The inviting node consumes the token, adds
the route to its own, and answers with :func:`nodes.bundle` sealed to that xkey: the
hub's keys cross the network encrypted to the one node that asked.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from nats.micro import add_service
from nats.micro.service import EndpointConfig, Service, ServiceConfig
from pydantic import ValidationError

from natster import __version__, limits, subjects, wire
from natster._fs import write_atomic
from natster._nats import Client, connect, request
from natster._service import endpoint
from natster._tls import Trust, pinned_ca
from natster.errors import ConfigError, HubError, InviteError, NatsterError, Refused
from natster.hub.cluster.nodes import NodeBundle, bundle, install
from natster.hub.entry.invites import Pasted, str_field, throwaway_user, token_key
from natster.hub.state import HubDir
from natster.security import XKey

_INVITES = "node-invites.json"


@dataclass(frozen=True)
class NodeToken(Pasted):
    node: str = field(kw_only=True)  # the inviting node's name: only it answers the join

    PREFIX = "natster-node-"
    VERSION = 1
    WHAT = "node token"
    BAD_URL = "that node token is damaged: copy it again, whole"

    def _extra(self) -> dict[str, object]:
        return {"node": self.node}

    @classmethod
    def _parse_extra(cls, body: dict[str, object]) -> dict[str, object]:
        return {"node": str_field(body, "node")}


# --- the inviting node -----------------------------------------------------------------
@contextmanager
def _invites(hub: HubDir) -> Iterator[dict[str, int]]:
    """The node's outstanding node tokens (sha256 -> expiry), locked, written back after."""
    path = hub.path / _INVITES
    with (hub.path / f"{_INVITES}.lock").open("wb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            loaded = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, ValueError):
            loaded = {}
        now = time.time()
        tokens = {k: int(v) for k, v in dict(loaded).items() if isinstance(v, int) and v > now}
        yield tokens
        write_atomic(path, json.dumps(tokens) + "\n")


def mint_node_token(hub: HubDir, ttl_s: float) -> NodeToken:
    """A single-use token for another machine to join ``hub`` (running, clustered)."""
    if not limits.MIN_INVITE_TTL_S <= ttl_s <= limits.MAX_NODE_TOKEN_TTL_S:
        raise InviteError(
            f"a node token lives between {limits.MIN_INVITE_TTL_S} s and "
            f"{limits.MAX_NODE_TOKEN_TTL_S // 3600} hours"
        )
    state = hub.require_running()
    config = hub.load()
    if not config.clustered:
        raise HubError(
            "this hub runs as a single node: restart it with `natster hub up --cluster-port "
            "PORT` to make it a cluster's first node, its data with it (docs/deploy.md)"
        )
    secret = secrets.token_urlsafe(32)
    expires_at = int(time.time() + ttl_s)
    with _invites(hub) as tokens:
        tokens[token_key(secret)] = expires_at
    creds = throwaway_user(
        hub.seed("accounts"),
        expires_at,
        name="natster-joining-node",
        subject=subjects.NODE_JOIN.format(node=config.node),
        caps=(4, 4 * limits.MAX_REQUEST_BYTES, limits.MAX_REQUEST_BYTES),
    )
    return NodeToken(
        url=state.url,
        token=secret,
        creds=creds,
        expires_at=expires_at,
        ca=state.ca_pin,
        node=config.node,
    )


class JoinService:
    """Answers ``natster.node.join.<this node>`` while the hub runs."""

    def __init__(self, hub: HubDir) -> None:
        self._hub = hub
        self._service: Service | None = None

    async def start(self, nc: Client) -> None:
        node = self._hub.load().node
        self._service = await add_service(
            nc, ServiceConfig(name="natster-node-join", version=__version__)
        )
        await self._service.add_endpoint(
            EndpointConfig(
                name="join",
                subject=subjects.NODE_JOIN.format(node=node),
                handler=endpoint(self.join),
            )
        )

    async def stop(self) -> None:
        if self._service is not None:
            await self._service.stop()
            self._service = None

    async def join(self, subject: str, payload: bytes) -> dict[str, object]:
        body = wire.parse_request(payload, wire.NodeJoinRequest)
        config = self._hub.load()
        if body.node == config.node:
            raise Refused(f"this hub already has a node named {body.node!r}", 409)
        with _invites(self._hub) as tokens:
            if tokens.pop(token_key(body.token), None) is None:
                raise Refused("that node token is unknown, used or expired", 403)
        routes = list(dict.fromkeys([*config.routes, body.route]))
        self._hub.save(config.model_copy(update={"routes": routes}))
        sender = XKey.create()
        sealed = sender.seal(bundle(self._hub, routes).model_dump_json().encode(), body.xkey)
        encoded = base64.urlsafe_b64encode(sealed).decode("ascii")
        return wire.NodeJoinReply(xkey=sender.public_key, sealed=encoded).model_dump()


# --- the joining node ------------------------------------------------------------------
def route_url(host: str, cluster_port: int, advertise: str | None = None) -> str:
    """Where the other nodes reach this one's routes: the advertised host, else ``host``."""
    name = (urlsplit(advertise).hostname if advertise else None) or host
    if name in ("0.0.0.0", "::"):  # noqa: S104 (a listen-everywhere address is no address)
        raise ConfigError("other nodes cannot reach 0.0.0.0: pass --advertise tls://HOST:PORT")
    return f"nats-route://{name}:{cluster_port}"


async def join(
    path: Path,
    text: str,
    *,
    node: str,
    host: str,
    port: int,
    cluster_port: int,
    advertise: str | None = None,
) -> HubDir:
    """Make ``path`` a node of the hub that minted the token ``text``."""
    token = NodeToken.decode(text)
    if token.expired:
        raise InviteError("that node token has expired: ask for a new one")
    if HubDir(path).exists():
        raise ConfigError(f"{path} already holds a hub: a node joins from an empty directory")
    trust = Trust(await pinned_ca(token.url, token.ca)) if token.ca else None
    key = XKey.create()
    body = wire.NodeJoinRequest(
        token=token.token,
        node=node,
        route=route_url(host, cluster_port, advertise),
        xkey=key.public_key,
    )
    nc = await connect(
        token.url,
        token.creds,
        name="natster-joining-node",
        trust=trust,
        inbox_prefix=token.inbox_prefix,
    )
    try:
        data = await request(
            nc,
            subjects.NODE_JOIN.format(node=token.node),
            body.model_dump_json().encode(),
            what=f"the inviting node {token.node}",
        )
    finally:
        await nc.close()
    try:
        reply = wire.NodeJoinReply.model_validate(data)
        sealed = base64.urlsafe_b64decode(reply.sealed)
        shared = NodeBundle.model_validate_json(key.open(sealed, reply.xkey))
    except (ValidationError, binascii.Error, ValueError, NatsterError) as exc:
        raise InviteError(f"the inviting node sent a bundle natster cannot open: {exc}") from exc
    return install(
        path, shared, node=node, host=host, port=port, cluster_port=cluster_port, route=body.route
    )
