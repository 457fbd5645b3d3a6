"""How much of a transfer to ask for at once: flow control that follows the link.

A receiver asks for chunks; nothing is pushed. What it asks for at once is the whole of
its flow control, so it must follow the link the bytes cross (the owner's upload, the
hub, the receiver's download), which the receiver learns only by measuring:

- the **delivery rate** ``R``: the best of the last ``RATE_HORIZON_S``'s samples, each
  the bytes received while one request was out over the time it was out (as BBR);
- the **round trip** ``RTT``: the least time a small request took (``transfer-open``),
  or a chunk, whichever is less.

A request asks for a *span* of about ``SPAN_TIME_S`` of data (``R x 0.1 s``, in whole
chunks: one 256 KiB chunk on slow links, up to 16 on fast ones). Spans are short
because the hub stores and forwards each message whole: the receiver's line starts a
message's time after the owner's, and ends as much later (0.1 s, not the 0.3 s spans
cost on two 100 Mbit/s lines). The bytes in flight are kept at about ``R x (RTT +
SLACK_S)``, within the transfer's bound: the slack holds what is queued behind each
line and at the hub, and what the round trip as measured misses (reading, sealing,
opening: with 0.6 s of it, two lines of the same rate settled at 0.83 of it). It
starts small (a few spans of the first size) and grows as the measured rate grows,
which it does while the line has room: a wider window measures a higher rate, which
widens it (a slow start, as TCP's). Until the rate is measured over a whole
``RATE_HORIZON_S``, the window is never less than at the start (the first replies'
rate is a rough one: letting it shrink the window left a 10 Mbit/s line idle for a
round trip). On loopback the rate is high and the bound (8 x 4 MiB) is reached at
once; on a 10 Mbit/s link about 1 s of data is in flight, so a queue never grows past
what the link drains quickly and a control request is never behind seconds of chunks.

A player's range keeps less in flight: ``R x (RTT + STREAM_SLACK_S)`` plus
``STREAM_SLACK_SPANS`` spans. What a range asked for and no longer wants still crosses
the owner's line when the player seeks, ahead of the new place's first chunk, so the
slack is what a seek waits for (a 20 Mbit/s owner: 0.94 s with a download's slack,
0.43 s with this). The spans are what a slow line needs instead: there one 256 KiB
chunk is 0.2 s of data, and the hub holds each message whole before it forwards it, so
two of them are in flight between the lines (two 10 Mbit/s lines: a player reads 9.3
Mbit/s of them, 8.0 with 0.5 s of slack and no spans; measured with tests/test_wan.py's
links).

A request is late only when the transfer received nothing for ``STALL_S``, or when it
has waited ``STALL_S`` longer than the bytes asked before it take at the measured rate:
an answer that is merely queued is never asked for again. Before that, a transfer that
went *quiet* (nothing for ``QUIET_TIMES`` what its bytes in flight take at the measured
rate, ``QUIET_MIN_S`` at least) sends one request again as a probe: when the probe is
answered while requests sent before it are still out, those were lost (the owner's
connection dropped with them: its cluster node died) and are asked again at once. A
server merely slow answers in order, so it is sent one request twice, not all of them.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from natster import limits

Clock = Callable[[], float]
SLACK_S = 0.9  # of data in flight beyond the bandwidth-delay product (see above)


@dataclass
class Asked:
    """One request in flight: when it was sent and the bytes in flight ahead of it."""

    sent_at: float
    size: int
    ahead: int
    rate: float | None
    delivered: int = 0  # bytes the transfer had received when it was sent
    probe: bool = False  # asked again because the transfer went quiet (see Flow.quiet)


class Flow:
    """The flow control of one transfer (``unit``: its chunk size in bytes)."""

    def __init__(
        self,
        unit: int,
        *,
        first_span: int,
        first_spans: int = 2,
        max_span: int,
        max_in_flight: int,
        slack: float = SLACK_S,
        slack_spans: int = 0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.unit = unit
        self.max_span = max(1, max_span)
        self.first_span = max(1, min(first_span, self.max_span))
        self.first_spans = max(1, first_spans)  # asked for before the first reply
        self.max_in_flight = max(max_in_flight, unit)
        self.slack = slack  # seconds of data in flight beyond the round trip's...
        self.slack_spans = slack_spans  # ...and spans (see above: a player's range)
        self._clock = clock
        self.rtt: float | None = None
        self.in_flight = 0  # bytes asked for and not yet received
        self.delivered_bytes = 0
        self.first_delivery: float | None = None
        self.last_delivery: float | None = None
        self._samples: deque[tuple[float, float]] = deque()  # (when, bytes per second)
        self._last_rate: float | None = None  # as last measured (a silence outlasts samples)
        self._probing = False  # a quiet transfer's one probe is out
        self._overtaken_before = -math.inf  # requests sent before this were overtaken: lost

    # --- what to ask for -----------------------------------------------------------------
    def rate(self) -> float | None:
        """The delivery rate: the best of the samples of the last ``RATE_HORIZON_S``, or
        None before the first reply came. A sample is the bytes received while one
        request was out, over the time it was out (at least a round trip: bursts of
        replies do not count as a rate), as BBR measures; the best of them, since a
        window too small to fill the line makes every sample less than the line."""
        now = self._clock()
        while self._samples and now - self._samples[0][0] > limits.RATE_HORIZON_S:
            self._samples.popleft()
        if not self._samples:
            return None
        self._last_rate = max(rate for _, rate in self._samples)
        return self._last_rate

    def span(self) -> int:
        """Chunks the next request asks for."""
        rate = self.rate()
        if rate is None:
            return self.first_span
        return max(1, min(self.max_span, int(rate * limits.SPAN_TIME_S // self.unit)))

    def window(self) -> int:
        """Bytes that may be in flight now: ``R x (RTT + slack)`` plus the slack's spans
        (two spans at least), within the bound."""
        rate, span_bytes = self.rate(), self.span() * self.unit
        first = self.first_spans * self.first_span * self.unit
        if rate is None:
            wanted = first
        else:
            wanted = math.ceil(rate * ((self.rtt or 0.0) + self.slack))
            wanted += self.slack_spans * span_bytes
            wanted = max(wanted, 2 * span_bytes)
            if self._clock() - (self.first_delivery or 0.0) < limits.RATE_HORIZON_S:
                wanted = max(wanted, first)  # a slow start: no less than at first
        return min(wanted, self.max_in_flight)

    def may_ask(self, size: int) -> bool:
        """Whether a request for ``size`` more bytes fits (one always may, if none is out)."""
        return self.in_flight == 0 or self.in_flight + size <= self.window()

    # --- what happened -------------------------------------------------------------------
    def round_trip(self, seconds: float) -> None:
        """A small request took ``seconds`` there and back."""
        if seconds > 0:
            self.rtt = seconds if self.rtt is None else min(self.rtt, seconds)

    def asking(self, size: int) -> Asked:
        asked = Asked(self._clock(), size, self.in_flight, self.rate(), self.delivered_bytes)
        self.in_flight += size
        return asked

    def delivered(self, asked: Asked, size: int) -> None:
        """The reply to ``asked`` came, ``size`` bytes of chunks."""
        now = self._clock()
        self.in_flight -= asked.size
        self.delivered_bytes += size
        if asked.probe:  # answered: what was asked before it, and is still out, is lost
            self._probing = False
            self._overtaken_before = max(self._overtaken_before, asked.sent_at)
        if self.first_delivery is None:
            self.first_delivery = now
        self.last_delivery = now
        if now > asked.sent_at:
            sample = (self.delivered_bytes - asked.delivered) / (now - asked.sent_at)
            self._samples.append((now, sample))
        self.round_trip(now - asked.sent_at)

    def given_up(self, asked: Asked) -> None:
        """No reply will be read for ``asked`` (it failed, or is asked again)."""
        self.in_flight -= asked.size
        if asked.probe:
            self._probing = False

    def quiet(self, asked: Asked) -> Literal["probe", "overtaken"] | None:
        """Whether to ask ``asked`` again before it is late (see the module's text):
        "probe" when the whole transfer has heard nothing for far longer than its bytes
        in flight take at the measured rate (one request of the transfer at a time);
        "overtaken" when a probe sent after it was answered (its answer will never come).
        A server merely slow answers in order: what it still owes comes before the probe's
        answer, so only one request is sent twice."""
        if asked.sent_at < self._overtaken_before:
            return "overtaken"
        rate = self.rate() or self._last_rate
        if rate is None or self._probing or asked.probe:
            return None
        heard = max(asked.sent_at, self.last_delivery or asked.sent_at)
        expected = (self.rtt or 0.0) + self.in_flight / rate
        if self._clock() - heard <= max(limits.QUIET_MIN_S, limits.QUIET_TIMES * expected):
            return None
        self._probing = True
        return "probe"

    def late(self, asked: Asked) -> bool:
        """Whether ``asked`` should be given up on and asked again (see the module's text)."""
        now = self._clock()
        heard = max(asked.sent_at, self.last_delivery or asked.sent_at)
        if now - heard > limits.STALL_S:
            return True  # nothing at all came for that long
        rate = self.rate() or asked.rate
        if rate is None:
            return False
        return now - asked.sent_at > limits.STALL_S + (asked.ahead + asked.size) / rate
