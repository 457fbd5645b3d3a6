"""Atomic, permission-aware file writes and the locations natster keeps state in."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

SECRET_MODE = 0o600
PUBLIC_MODE = 0o644
DIR_MODE = 0o700


def ensure_dir(path: Path, mode: int = DIR_MODE) -> Path:
    """Create ``path`` (and parents) if needed; new directories get ``mode``."""
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    return path


def write_atomic(path: Path, data: bytes | str, mode: int = SECRET_MODE) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.

    The temporary file is created with ``mode`` from the start (a secret is never
    readable by others, even for an instant), fsynced, renamed over ``path``, and the
    directory is fsynced so the rename survives a crash.
    """
    raw = data.encode() if isinstance(data, str) else data
    directory = path.parent
    ensure_dir(directory)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def natster_home() -> Path:
    """``$NATSTER_HOME``, or ``~/.natster``."""
    value = os.environ.get("NATSTER_HOME")
    return Path(value).expanduser() if value else Path.home() / ".natster"
