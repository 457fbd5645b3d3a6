"""The one way natster writes "now": UTC, ISO 8601, to the second or millisecond."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal


def now_iso(timespec: Literal["seconds", "milliseconds"] = "seconds") -> str:
    return datetime.now(UTC).isoformat(timespec=timespec)
