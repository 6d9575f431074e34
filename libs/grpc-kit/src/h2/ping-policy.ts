/**
 * grpc's server ping policy (C-core's, which channel-options.ts sets up for our clients): a client
 * PING sooner than `minIntervalMs` after the previous one is a strike; strikes are forgiven when
 * the server sends HEADERS or DATA; past `maxStrikes` the connection is closed with GOAWAY
 * ENHANCE_YOUR_CALM "too_many_pings", which grpc-js clients answer by doubling their interval.
 */
export class PingPolicy {
  private last = -Infinity;
  private strikes = 0;

  constructor(
    private readonly minIntervalMs: number,
    private readonly maxStrikes: number,
  ) {}

  /** A client PING at `now`: false when it is one too many. */
  allow(now: number): boolean {
    if (now - this.last < this.minIntervalMs && ++this.strikes > this.maxStrikes) return false;
    this.last = now;
    return true;
  }

  /** We sent HEADERS or DATA. */
  forgive(): void {
    this.strikes = 0;
  }
}
