/**
 * A token bucket: `burst` frames at once, `ratePerSecond` sustained. The broker keeps one per
 * agent stream for Pings and one for HealthReports, so that a peer cannot make it answer (or
 * recompute watches) as fast as it can write (issue 7: millions of Pings in one message).
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes one token; false when the bucket is empty (the peer is over the rate). */
  take(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSecond);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
