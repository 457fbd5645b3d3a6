"""The nodes of a hub: what a node holds, and how another machine becomes one.

Every node is a whole hub: it runs nats-server, the account service and a global
service instance, so it holds the hub's authority (the operator signing key, the
platform accounts' seeds and service creds) and, with the hub's own CA, the CA key to
issue its own certificate: a node that runs the account service can sign any account
anyway (docs/security.md). A node's directory is as secret as the first one.

What differs per node: its name (nats-server's ``server_name``), its addresses and
ports, its certificate and its JetStream storage; never copied.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from natster._fs import PUBLIC_MODE, ensure_dir, write_atomic
from natster.errors import ConfigError
from natster.hub.state import HubConfig, HubDir

# files a node holds, relative to the hub dir: public ones 0644, the rest 0600
_PUBLIC = ("operator.jwt", "sys.jwt", "tls/ca.pem")
_SECRET_TLS = ("tls/ca.key",)
CLUSTER_REPLICAS = 3  # replicas of every stream and bucket once the hub has this many nodes


class NodeBundle(BaseModel):
    """A hub's shared state, as a joining node receives it (how it travels, sealed to the
    new node, is not built yet: issue 15)."""

    config: HubConfig  # the founding node's, as a template: keys, accounts, TLS mode
    files: dict[str, str]  # relative path -> content
    routes: list[str]  # the route URLs of the nodes already in the cluster


def bundle(hub: HubDir, routes: list[str]) -> NodeBundle:
    """What another machine needs to become a node of ``hub``."""
    config = hub.load()
    names = [*_PUBLIC, *(f"keys/{p.name}" for p in sorted(hub.keys.iterdir()))]
    if config.tls == "own":
        names += _SECRET_TLS
    files = {}
    for name in names:
        path = hub.path / name
        if path.is_file():
            files[name] = path.read_text()
    return NodeBundle(config=config, files=files, routes=routes)


def install(
    path: Path,
    received: NodeBundle,
    *,
    node: str,
    host: str,
    port: int,
    cluster_port: int,
    route: str,
) -> HubDir:
    """Make ``path`` a node of the hub in ``received`` (secrets first, hub.json last:
    a directory without hub.json is no hub, so a half-written one is never started)."""
    hub = HubDir(path)
    if hub.exists():
        raise ConfigError(f"{path} already holds a hub: a node joins from an empty directory")
    ensure_dir(path)
    ensure_dir(hub.keys)
    for name, content in received.files.items():
        target = (path / name).resolve()
        if not _inside(target, path.resolve()) or not _carried(name):
            raise ConfigError(f"the node bundle names an unexpected file: {name!r}")
        ensure_dir(target.parent)
        write_atomic(target, content, PUBLIC_MODE if name in _PUBLIC else 0o600)
    routes = list(dict.fromkeys([*received.routes, route]))
    config = received.config.model_copy(
        update={
            "node": node,
            "host": host,
            "port": port,
            "cluster_port": cluster_port,
            "routes": routes,
        }
    )
    hub.save(config)
    return hub


def _carried(name: str) -> bool:
    """Only the files :func:`bundle` sends: never a config, certificate or store."""
    if name in _PUBLIC or name in _SECRET_TLS:
        return True
    folder, _, file = name.partition("/")
    return folder == "keys" and "/" not in file and file.endswith((".nk", ".creds"))


def _inside(path: Path, root: Path) -> bool:
    return path != root and root in path.parents


def replicas(config: HubConfig) -> int:
    """How many copies each stream and bucket keeps: three once there are three nodes."""
    nodes = len(set(config.routes)) if config.clustered else 1
    return CLUSTER_REPLICAS if nodes >= CLUSTER_REPLICAS else 1
