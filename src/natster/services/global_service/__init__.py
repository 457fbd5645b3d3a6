"""The global service: event log, projections, presence, one-time codes."""

from .service import GlobalService

__all__ = ["GlobalService"]
