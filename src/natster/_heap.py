"""Long-running processes and Python's garbage collector."""

from __future__ import annotations

import gc


def settle() -> None:
    """Keep what a long-running process has loaded by now (modules, models, routes) out
    of the collector's full passes, which walk every object: in ``natster web`` one
    stopped a request for ~50 ms. Call once, when start-up is done."""
    gc.collect()
    gc.freeze()
