"""Flow control's arithmetic (client/_flow.py), on a clock the test moves."""

from __future__ import annotations

from collections import deque

import pytest

from natster import limits
from natster.client._flow import SLACK_S, Asked, Flow

UNIT = limits.CHUNK_SIZE
MB = 1_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def flowing(
    rate: float, rtt: float, *, seconds: float = 4.0, stream: bool = False
) -> tuple[Flow, Clock]:
    """A download (or a player's range) that has received ``rate`` bytes/s for
    ``seconds``, each reply coming ``rtt`` after its request (a request every step,
    always that many out)."""
    clock = Clock()
    if stream:
        flow = Flow(
            UNIT,
            first_span=limits.STREAM_FIRST_SPAN,
            max_span=limits.MAX_SPAN,
            max_in_flight=limits.STREAM_IN_FLIGHT,
            slack=limits.STREAM_SLACK_S,
            slack_spans=limits.STREAM_SLACK_SPANS,
            clock=clock,
        )
    else:
        flow = Flow(
            UNIT,
            first_span=limits.DOWNLOAD_FIRST_SPAN,
            first_spans=limits.DOWNLOAD_FIRST_SPANS,
            max_span=limits.MAX_SPAN,
            max_in_flight=limits.DOWNLOAD_IN_FLIGHT,
            clock=clock,
        )
    flow.round_trip(rtt)
    step = 0.01
    out: deque[tuple[float, Asked]] = deque()
    for _ in range(round(seconds / step)):
        out.append((clock.now, flow.asking(int(rate * step))))
        clock.now += step
        while out and clock.now - out[0][0] >= rtt - 1e-9:
            flow.delivered(out.popleft()[1], int(rate * step))
    return flow, clock


def line(rate: float, rtt: float, seconds: float, warm_up: float) -> tuple[Flow, float]:
    """A download through a line of ``rate`` bytes/s and round trip ``rtt`` (requests
    served in order, each reply whole), asking as the flow lets it for ``seconds``: the
    flow, and the time the line stood idle after the first ``warm_up`` seconds."""
    clock = Clock()
    flow = Flow(
        UNIT,
        first_span=limits.DOWNLOAD_FIRST_SPAN,
        first_spans=limits.DOWNLOAD_FIRST_SPANS,
        max_span=limits.MAX_SPAN,
        max_in_flight=limits.DOWNLOAD_IN_FLIGHT,
        clock=clock,
    )
    flow.round_trip(rtt)  # as transfer-open measured it
    began, free, idle = clock.now, clock.now, 0.0
    arriving: deque[tuple[float, int, Asked]] = deque()
    while clock.now - began < seconds:
        while flow.may_ask(size := flow.span() * UNIT):
            asked = flow.asking(size)
            start = max(clock.now + rtt / 2, free)  # its turn on the line
            if start > free and free - began > warm_up:
                idle += start - free
            free = start + size / rate
            arriving.append((free + rtt / 2, size, asked))
        when, size, asked = arriving.popleft()
        clock.now = when
        flow.delivered(asked, size)
    return flow, idle


def test_before_the_first_reply_two_spans_of_the_first_size() -> None:
    flow = Flow(UNIT, first_span=4, max_span=16, max_in_flight=32 * 1024 * 1024)
    assert flow.span() == 4
    assert flow.window() == 2 * 4 * UNIT
    assert flow.may_ask(100 * UNIT)  # none in flight: one may always be asked


def test_the_first_reply_does_not_shrink_the_window() -> None:
    """Two spans of 1 MiB asked on a 10 Mbit/s line with a 0.24 s round trip: the first
    comes after the round trip and its 0.84 s on the line, so its rate is less than the
    line's. The window stays two spans until a whole horizon of rate is measured, so
    the line never waits a round trip for the next request."""
    clock, first = Clock(), 4 * UNIT
    flow = Flow(UNIT, first_span=4, max_span=16, max_in_flight=32 * 1024 * 1024, clock=clock)
    flow.round_trip(0.24)
    asked = [flow.asking(first), flow.asking(first)]
    line = 1.25 * MB
    clock.now += 0.24 + first / line
    flow.delivered(asked[0], first)
    assert flow.window() >= 2 * first
    assert flow.may_ask(first)  # the second span is still out: ask the next now
    clock.now += limits.RATE_HORIZON_S  # measured long enough: the rate decides alone
    flow.delivered(asked[1], first)
    assert flow.window() < 2 * first


def test_spans_and_windows_follow_the_rate() -> None:
    slow, _ = flowing(1.25 * MB, 0.12)  # 10 Mbit/s
    assert slow.span() == 1  # 0.1 s of 1.25 MB/s is less than one chunk
    expected = 1.25 * MB * (0.12 + SLACK_S)
    assert abs(slow.window() - expected) / expected < 0.05  # about 1 s of data in flight
    fast, _ = flowing(12.5 * MB, 0.08)  # 100 Mbit/s
    assert fast.span() == int(12.5 * MB * limits.SPAN_TIME_S // UNIT)
    loopback, _ = flowing(300 * MB, 0.002)
    assert loopback.span() == limits.MAX_SPAN
    assert loopback.window() == limits.DOWNLOAD_IN_FLIGHT  # today's 8 x 4 MiB


def test_a_players_range_keeps_less_in_flight_than_a_download() -> None:
    """What a range no longer wants is what a seek waits behind: behind a 20 Mbit/s
    owner a download keeps about 1 s of data in flight, a player's range under 0.5 s;
    on a slow line two chunks at least (one at each end of the hub)."""
    download, _ = flowing(2.5 * MB, 0.08)
    player, _ = flowing(2.5 * MB, 0.08, stream=True)
    assert download.window() / (2.5 * MB) > 0.9
    assert player.window() / (2.5 * MB) < 0.5
    slow, _ = flowing(1.25 * MB, 0.08, stream=True)
    assert slow.window() >= 2 * UNIT + 1.25 * MB * 0.28


@pytest.mark.parametrize(("mbit", "rtt"), [(10, 0.24), (20, 0.08), (100, 0.24), (1000, 0.002)])
def test_the_window_grows_to_fill_the_line_within_a_second(mbit: float, rtt: float) -> None:
    """From two spans, the window grows until the line is full: after its first second
    the line never waits for a request (requests wait their turn on it instead), and
    about a second of data is in flight (the bound, on fast links)."""
    rate = mbit * MB / 8
    flow, idle = line(rate, rtt, 4.0, warm_up=1.0)
    assert idle == 0.0
    assert flow.window() <= rate * (rtt + 1.0) or flow.window() == limits.DOWNLOAD_IN_FLIGHT


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


def test_a_quiet_transfer_probes_once_and_asks_again_what_the_probe_overtook() -> None:
    flow, clock = flowing(100 * MB, 0.01)  # a fast link: its window takes well under 1 s
    lost = [flow.asking(UNIT), flow.asking(UNIT)]  # their owner's connection dropped
    clock.now += limits.QUIET_MIN_S - 0.1
    assert flow.quiet(lost[0]) is None  # never before the floor, however fast the link
    clock.now += 0.2
    assert flow.quiet(lost[0]) == "probe"  # the silence outlasted the rate's samples
    assert not flow.late(lost[0])  # and it is not late yet: the probe comes first
    assert flow.quiet(lost[1]) is None  # one probe at a time: nothing is sent twice more
    flow.given_up(lost[0])
    probe = flow.asking(UNIT)
    probe.probe = True
    clock.now += 0.01
    flow.delivered(probe, UNIT)  # answered: what was asked before it is lost
    assert flow.quiet(lost[1]) == "overtaken"
    assert flow.quiet(flow.asking(UNIT)) is None  # asked after the probe: not overtaken

    slow, clock = flowing(0.125 * MB, 0.2)  # 1 Mbit/s: its window takes seconds
    queued = slow.asking(UNIT)
    expected = (slow.rtt or 0.0) + slow.in_flight / (0.125 * MB)
    clock.now += limits.QUIET_TIMES * expected * 0.9
    assert slow.quiet(queued) is None  # merely the bytes ahead of it, at the link's rate
    clock.now += limits.QUIET_TIMES * expected * 0.2
    assert slow.quiet(queued) == "probe"


def test_what_is_given_up_leaves_the_window() -> None:
    flow, _ = flowing(1.25 * MB, 0.12)
    before = flow.in_flight
    asked = flow.asking(UNIT)
    assert flow.in_flight == before + UNIT
    flow.given_up(asked)
    assert flow.in_flight == before
