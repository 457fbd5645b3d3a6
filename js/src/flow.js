// How much of a transfer to ask for at once, following the link: the browser's copy of
// src/natster/client/_flow.py (docs/protocol.md, "Flow control"). The receiver measures the
// delivery rate R (the best sample of the last 2 s: the bytes received while one request
// was out, over its time out) and the round trip, asks for spans of about 0.1 s of data,
// and keeps about R x (RTT + 0.9 s) in flight (a player's range: R x (RTT + 0.2 s) plus two
// spans, so a seek waits behind less), within a bound, starting with `firstSpans` spans
// of the first size (and no less until R is measured over 2 s).

export const SPAN_TIME = 0.1; // seconds of data per request
export const RATE_HORIZON_MS = 2000; // the rate is measured over this much of the past
export const STALL_MS = 10000; // nothing received this long: the transfer stalled
const SLACK = 0.9; // seconds of data in flight beyond the bandwidth-delay product (_flow.py)

export class Flow {
  constructor(unit, { firstSpan, firstSpans = 2, maxSpan, maxInFlight, slack = SLACK, slackSpans = 0 }) {
    this.unit = unit;
    this.slack = slack; // seconds of data in flight beyond the round trip's...
    this.slackSpans = slackSpans; // ...and spans (a player's range: see _flow.py)
    this.maxSpan = Math.max(1, maxSpan);
    this.firstSpan = Math.max(1, Math.min(firstSpan, this.maxSpan));
    this.firstSpans = Math.max(1, firstSpans);
    this.maxInFlight = Math.max(maxInFlight, unit);
    this.rtt = null; // seconds
    this.inFlight = 0;
    this.deliveredBytes = 0;
    this.firstDelivery = null; // ms
    this.samples = []; // [when (ms), bytes per second]
  }

  /** The best delivery-rate sample of the last RATE_HORIZON_MS, or null before a reply. */
  rate() {
    const now = performance.now();
    while (this.samples.length && now - this.samples[0][0] > RATE_HORIZON_MS) this.samples.shift();
    return this.samples.length ? Math.max(...this.samples.map(([, rate]) => rate)) : null;
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
    const first = this.firstSpans * this.firstSpan * this.unit;
    let wanted = first;
    if (rate !== null) {
      const spans = this.slackSpans * this.span() * this.unit;
      wanted = Math.max(
        Math.ceil(rate * ((this.rtt || 0) + this.slack)) + spans,
        2 * this.span() * this.unit,
      );
      if (performance.now() - this.firstDelivery < RATE_HORIZON_MS) wanted = Math.max(wanted, first);
    }
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
    const rate = this.rate();
    const ahead = this.inFlight + size;
    this.inFlight += size;
    return {
      sentAt: now,
      size,
      delivered: this.deliveredBytes,
      allowance: STALL_MS + (rate ? (ahead / rate) * 1000 : 0),
    };
  }

  delivered(asked, bytes) {
    const now = performance.now();
    this.inFlight -= asked.size;
    this.deliveredBytes += bytes;
    if (this.firstDelivery === null) this.firstDelivery = now;
    if (now > asked.sentAt) {
      this.samples.push([now, ((this.deliveredBytes - asked.delivered) * 1000) / (now - asked.sentAt)]);
    }
    this.roundTrip((now - asked.sentAt) / 1000);
  }

  givenUp(asked) {
    this.inFlight -= asked.size;
  }
}
