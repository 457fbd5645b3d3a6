"""How error messages name the hub's services."""

from __future__ import annotations

ACCOUNT_SERVICE = "the hub's account service"
GLOBAL_SERVICE = "the hub's global service"
