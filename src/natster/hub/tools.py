"""``natster hub context``: the hub's own accounts as `nats` CLI contexts, for its operator.

Each context names the hub's URL on this machine, the hub's CA and the credentials its
own services connect with (``DIR/keys/ROLE.creds``, 0600: the context only points at
them, it holds no secret): ``sys``, nats-server's system account (``nats server ls``,
``nats server report jetstream``), and the accounts the services run in, ``global`` and
``accounts`` (``nats micro ls``, ``nats micro stats natster-global``).
"""

from __future__ import annotations

from pathlib import Path

from natster._contexts import write_context

from .state import HubDir

__all__ = ["HUB_CONTEXT_ROLES", "export_hub_contexts"]

HUB_CONTEXT_ROLES = ("sys", "global", "accounts")


def export_hub_contexts(hub: HubDir, name: str = "natster-hub") -> list[tuple[str, Path]]:
    """Write a context for each of ``HUB_CONTEXT_ROLES`` (``NAME-ROLE``) for the running
    hub; their names and paths."""
    state = hub.require_running()
    config = hub.load()
    files = hub.tls_files(config)
    # a certificate of the operator's names no loopback: reach it where invites do
    url = state.url if state.tls_name else state.local_url
    ca = str(files.ca.resolve()) if files is not None else ""
    written = []
    for role in HUB_CONTEXT_ROLES:
        creds = hub.keys / f"{role}.creds"
        hub.creds(role)  # there and readable, or a one-line error
        body: dict[str, object] = {
            "description": f"natster hub node {config.node} at {url}: its {role} account",
            "url": url,
            "creds": str(creds.resolve()),
            "ca": ca,
            "tls_first": files is not None,
        }
        full = f"{name}-{role}"
        written.append((full, write_context(full, body)))
    return written
