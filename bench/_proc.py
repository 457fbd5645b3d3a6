"""CPU time of the processes a benchmark runs (Linux /proc; elsewhere, nothing)."""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _fields(pid: int) -> tuple[str, list[str]] | None:
    """A process's name and the fields of /proc/PID/stat after it."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    return name, raw[raw.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used (0 if it is gone)."""
    found = _fields(pid)
    if found is None:
        return 0.0
    rest = found[1]
    return (int(rest[11]) + int(rest[12])) / _TICK


def children(pid: int, name: str) -> list[int]:
    """``pid``'s children called ``name`` (e.g. "nats-server")."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _fields(int(entry.name))
            if fields is not None and fields[0] == name and int(fields[1][1]) == pid:
                found.append(int(entry.name))
    return found


def machine_cpu_seconds() -> float:
    """CPU seconds every core has spent busy since boot (user, nice, system, irq)."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in first[1:8])
    return (user + nice + system + irq + softirq) / _TICK
