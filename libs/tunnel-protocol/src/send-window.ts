/**
 * The sender's side of per-exchange flow control: how many body bytes it may still put on the
 * stream before the receiver grants more. A slow reader of one exchange thus stalls only that
 * exchange, never the shared stream (konnectivity's "receive channel is full" bug).
 */
export class SendWindow {
  private waiters: (() => void)[] = [];

  constructor(private available: number) {}

  get bytes(): number {
    return this.available;
  }

  /** Takes up to `wanted` bytes of credit (at least 1 when any is left); returns what was taken. */
  take(wanted: number): number {
    const granted = Math.min(wanted, this.available);
    this.available -= granted;
    return granted;
  }

  grant(bytes: number): void {
    this.available += bytes;
    if (this.available > 0 && this.waiters.length > 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    }
  }

  /** Resolves when some credit is available (at once if there is). */
  whenOpen(): Promise<void> {
    if (this.available > 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Wakes every waiter (the exchange ended; they will see it is over). */
  release(): void {
    this.available = Number.MAX_SAFE_INTEGER;
    this.grant(0);
  }
}

/**
 * The receiver's side: counts bytes the consumer has finished with and says when to send a
 * Credit frame. Credit is returned in quarters of the window so that a fast stream sends a few
 * Credit frames, not one per chunk.
 */
export class ReceiveWindow {
  private consumed = 0;
  private readonly threshold: number;

  constructor(window: number) {
    this.threshold = Math.max(1, Math.floor(window / 4));
  }

  /** Records `bytes` consumed; returns how much credit to send now (0 = not yet). */
  consume(bytes: number): number {
    this.consumed += bytes;
    if (this.consumed < this.threshold) return 0;
    const credit = this.consumed;
    this.consumed = 0;
    return credit;
  }
}
