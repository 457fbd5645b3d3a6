"""Rate limits: what one account (or one address) may make the platform spend, per minute.

A token bucket per key (an account, an address) and kind, in memory, per service
instance (so N instances allow up to N times the rate: a bound, not an exact quota).
Bounded in size: the least recently seen keys are forgotten first.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict

from natster import limits
from natster.errors import Refused


def address_of(host: str) -> str:
    """What counts as one address: an IPv4 address, or an IPv6 address's /64 (what one
    home or one machine is given)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class RateLimit:
    def __init__(self, what: str, rate: limits.Rate) -> None:
        self.what, self.rate, self.burst = what, rate.per_minute / 60.0, float(rate.burst)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def spend(self, account: str) -> None:
        """Take one; refuse with 429 (and when to try again) if the account is out."""
        now = time.monotonic()
        tokens, then = self._buckets.pop(account, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens < 1:
            self._buckets[account] = (tokens, now)
            wait = math.ceil((1 - tokens) / self.rate)  # never "in 0 s"
            raise Refused(f"too many {self.what}: try again in {wait} s", 429)
        self._buckets[account] = (tokens - 1, now)
        while len(self._buckets) > limits.RATE_TRACKED:
            self._buckets.popitem(last=False)
