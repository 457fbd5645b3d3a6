"""Shutdown paths: what fails while something stops is logged at debug, never raised
and never lost without a trace (a connection already gone has nothing left to close)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


@contextlib.contextmanager
def quietly(log: logging.Logger, what: str) -> Iterator[None]:
    """Run the block; an error in it is logged at debug as ``what`` failing."""
    try:
        yield
    except Exception as exc:  # a shutdown path: nothing the caller could do about it
        log.debug("%s failed: %s", what, exc, exc_info=True)
