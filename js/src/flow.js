// How much of a transfer to ask for at once, following the link: the browser's copy of
// src/natster/client/_flow.py (docs/protocol.md, "Flow control"). The receiver measures the
// delivery rate R and the round trip, asks for spans of about 0.3 s of data, and keeps
// about R x (RTT + three spans) in flight, within a bound, starting with two small spans.

export const SPAN_TIME = 0.3; // seconds of data per request
export const RATE_HORIZON_MS = 2000; // the rate is measured over this much of the past
export const STALL_MS = 10000; // nothing received this long: the transfer stalled
const SPANS_IN_FLIGHT = 3; // beyond the bandwidth-delay product (see _flow.py)

export class Flow {
  constructor(unit, { firstSpan, maxSpan, maxInFlight }) {
    this.unit = unit;
    this.maxSpan = Math.max(1, maxSpan);
    this.firstSpan = Math.max(1, Math.min(firstSpan, this.maxSpan));
    this.maxInFlight = Math.max(maxInFlight, unit);
    this.rtt = null; // seconds
    this.inFlight = 0;
    this.began = null;
    this.recent = []; // [when (ms), bytes] received
    this.recentBytes = 0;
  }

  /** Bytes per second received lately, or null before the first reply. */
  rate() {
    if (this.began === null || !this.recent.length) return null;
    const now = performance.now();
    while (this.recent.length && now - this.recent[0][0] > RATE_HORIZON_MS) {
      this.recentBytes -= this.recent.shift()[1];
    }
    const elapsed = Math.min(RATE_HORIZON_MS, now - this.began) / 1000;
    return elapsed > 0 && this.recentBytes ? this.recentBytes / elapsed : null;
  }

  /** Chunks the next request asks for. */
  span() {
    const rate = this.rate();
    if (rate === null) return this.firstSpan;
    return Math.max(1, Math.min(this.maxSpan, Math.floor((rate * SPAN_TIME) / this.unit)));
  }

  /** Bytes that may be in flight now. */
  window() {
    const rate = this.rate();
    const spanBytes = this.span() * this.unit;
    const wanted = rate === null ? 2 * spanBytes
      : Math.max(Math.ceil(rate * ((this.rtt || 0) + SPANS_IN_FLIGHT * SPAN_TIME)), 2 * spanBytes);
    return Math.min(wanted, this.maxInFlight);
  }

  mayAsk(size) {
    return this.inFlight === 0 || this.inFlight + size <= this.window();
  }

  roundTrip(seconds) {
    if (seconds > 0) this.rtt = this.rtt === null ? seconds : Math.min(this.rtt, seconds);
  }

  /** A request for `size` bytes goes out: how long it may take before it is late (ms). */
  asking(size) {
    const now = performance.now();
    if (this.began === null) this.began = now;
    const rate = this.rate();
    const ahead = this.inFlight + size;
    this.inFlight += size;
    return { sentAt: now, size, allowance: STALL_MS + (rate ? (ahead / rate) * 1000 : 0) };
  }

  delivered(asked, bytes) {
    const now = performance.now();
    this.inFlight -= asked.size;
    this.recent.push([now, bytes]);
    this.recentBytes += bytes;
    this.roundTrip((now - asked.sentAt) / 1000);
  }

  givenUp(asked) {
    this.inFlight -= asked.size;
  }
}
