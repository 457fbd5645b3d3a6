"""Flow control's arithmetic (client/_flow.py), on a clock the test moves."""

from __future__ import annotations

from natster import limits
from natster.client._flow import SPANS_IN_FLIGHT, Flow

UNIT = limits.CHUNK_SIZE
MB = 1_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def flowing(rate: float, rtt: float, *, seconds: float = 4.0) -> tuple[Flow, Clock]:
    """A download that has received ``rate`` bytes/s for ``seconds``, round trip ``rtt``."""
    clock = Clock()
    flow = Flow(
        UNIT,
        first_span=limits.DOWNLOAD_FIRST_SPAN,
        max_span=limits.MAX_SPAN,
        max_in_flight=limits.DOWNLOAD_IN_FLIGHT,
        clock=clock,
    )
    flow.round_trip(rtt)
    step = 0.05
    for _ in range(int(seconds / step)):
        asked = flow.asking(int(rate * step))
        clock.now += step
        flow.delivered(asked, int(rate * step))
    return flow, clock


def test_before_the_first_reply_two_spans_of_the_first_size() -> None:
    flow = Flow(UNIT, first_span=4, max_span=16, max_in_flight=32 * 1024 * 1024)
    assert flow.span() == 4
    assert flow.window() == 2 * 4 * UNIT
    assert flow.may_ask(100 * UNIT)  # none in flight: one may always be asked


def test_spans_and_windows_follow_the_rate() -> None:
    slow, _ = flowing(1.25 * MB, 0.12)  # 10 Mbit/s
    assert slow.span() == 1  # 0.3 s of 1.25 MB/s is less than two chunks
    expected = 1.25 * MB * (0.12 + SPANS_IN_FLIGHT * limits.SPAN_TIME_S)
    assert abs(slow.window() - expected) / expected < 0.05  # about 1 s of data in flight
    fast, _ = flowing(12.5 * MB, 0.08)  # 100 Mbit/s
    assert fast.span() == int(12.5 * MB * limits.SPAN_TIME_S // UNIT)
    loopback, _ = flowing(300 * MB, 0.002)
    assert loopback.span() == limits.MAX_SPAN
    assert loopback.window() == limits.DOWNLOAD_IN_FLIGHT  # today's 8 x 4 MiB


def test_a_queued_request_is_not_late_a_silent_transfer_is() -> None:
    flow, clock = flowing(1.25 * MB, 0.12)
    queued = flow.asking(8 * MB)  # 8 MB ahead of nothing: ~6.4 s of this line
    clock.now += limits.STALL_S - 1
    flow.delivered(flow.asking(UNIT), UNIT)  # others keep coming
    clock.now += 5  # 14 s since sent: less than 10 s + its 6.4 s at the rate
    assert not flow.late(queued)
    clock.now += 3
    assert flow.late(queued)  # past its allowance
    silent = flow.asking(UNIT)
    clock.now += limits.STALL_S + 0.1  # nothing at all came since
    assert flow.late(silent)


def test_what_is_given_up_leaves_the_window() -> None:
    flow, _ = flowing(1.25 * MB, 0.12)
    asked = flow.asking(UNIT)
    assert flow.in_flight == UNIT
    flow.given_up(asked)
    assert flow.in_flight == 0
