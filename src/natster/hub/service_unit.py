"""``natster hub service --print``: a systemd system unit that runs a hub for months.

The hub runs as its own user, with its state directory the only place it may write
(``ProtectSystem=strict`` and ``ReadWritePaths``), no new privileges, a private /tmp,
restarted on failure, its logs in the journal. docs/deploy.md says how to install it.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path


def hub_unit(dir: Path, *, user: str, host: str | None = None, port: int | None = None) -> str:
    """The unit's text, for the hub in ``dir`` run by ``user`` with this natster."""
    state = dir.expanduser().resolve()
    command = [sys.executable, "-m", "natster", "hub", "up", "--dir", str(state)]
    if host is not None:
        command += ["--host", host]
    if port is not None:
        command += ["--port", str(port)]
    under_home = state.is_relative_to("/home") or state.is_relative_to("/root")
    return "\n".join(
        [
            "# Written by `natster hub service --print` (docs/deploy.md).",
            "[Unit]",
            f"Description=natster hub ({state})",
            "Wants=network-online.target",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=simple",
            f"User={user}",
            f"Group={user}",
            f"ExecStart={shlex.join(command)}",
            "Restart=on-failure",
            "RestartSec=5",
            "TimeoutStopSec=30",
            "UMask=0077",
            "LimitNOFILE=65536",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            f"ProtectHome={'read-only' if under_home else 'yes'}",
            f"ReadWritePaths={state}",
            "PrivateTmp=yes",
            "PrivateDevices=yes",
            "ProtectKernelTunables=yes",
            "ProtectKernelModules=yes",
            "ProtectControlGroups=yes",
            "RestrictSUIDSGID=yes",
            "RestrictRealtime=yes",
            "LockPersonality=yes",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )
