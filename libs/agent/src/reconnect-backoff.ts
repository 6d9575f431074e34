/** Reconnect policy constants (cloudflared-style: exponential, jittered, capped, reset when stable). */
export const BACKOFF_INITIAL_MS = 500;
export const BACKOFF_MAX_MS = 30_000;
export const BACKOFF_MULTIPLIER = 2;
/** A connection that lived this long counts as stable: the next failure starts from the initial delay. */
export const BACKOFF_STABLE_MS = 30_000;

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  /** Random source in [0, 1), injectable so tests are deterministic. */
  random?: () => number;
}

/**
 * Delays between reconnect attempts: "full jitter" between half and all of an exponentially
 * growing ceiling, so that a thousand agents cut off by one broker restart do not come back in
 * lockstep.
 */
export class ReconnectBackoff {
  private attempt = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? BACKOFF_INITIAL_MS;
    this.maxMs = options.maxMs ?? BACKOFF_MAX_MS;
    this.random = options.random ?? Math.random;
  }

  /** The delay before the next attempt. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * BACKOFF_MULTIPLIER ** this.attempt);
    this.attempt++;
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  reset(): void {
    this.attempt = 0;
  }
}
