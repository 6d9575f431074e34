/** Reconnect policy constants (cloudflared-style: exponential, jittered, capped, reset when stable). */
export const BACKOFF_INITIAL_MS = 500;
export const BACKOFF_MAX_MS = 30_000;
export const BACKOFF_MULTIPLIER = 2;
/** A connection that lived this long counts as stable: the next failure starts from the initial delay. */
export const BACKOFF_STABLE_MS = 30_000;

/**
 * After losing a stream that served (the broker restarted, or drained it), the retries that find
 * no broker there (UNAVAILABLE: nothing listens yet, or it is still shutting down) come this often,
 * jittered between the two bounds, for QUICK_WINDOW_MS: the tunnel serves again within a second
 * of the broker being ready instead of after a backoff that grew while it restarted. Cheap for
 * the broker: a refused TCP connect or an UNAVAILABLE from a stopping broker costs it no admission.
 */
export const QUICK_RETRY_MIN_MS = 150;
export const QUICK_RETRY_MAX_MS = 500;
export const QUICK_WINDOW_MS = 20_000;
/** A stream lost sooner than this after it was opened opens no quick window (a flapping broker backs off). */
export const QUICK_MIN_SERVED_MS = 5_000;

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  /** Random source in [0, 1), injectable so tests are deterministic. */
  random?: () => number;
  /** Clock of the quick window (default Date.now). */
  now?: () => number;
}

/**
 * Delays between reconnect attempts: "full jitter" between half and all of an exponentially
 * growing ceiling, so that a thousand agents cut off by one broker restart do not come back in
 * lockstep; short jittered retries right after a lost stream while no broker answers (see
 * QUICK_RETRY_MIN_MS). A broker that answers but fails (a timeout, an error) ends the quick
 * window: a struggling broker gets the exponential backoff, not a storm.
 */
export class ReconnectBackoff {
  private attempt = 0;
  private quickUntil = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? BACKOFF_INITIAL_MS;
    this.maxMs = options.maxMs ?? BACKOFF_MAX_MS;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
  }

  /**
   * The delay before the next attempt. `brokerAbsent`: the last attempt found no broker
   * (UNAVAILABLE), which keeps an open quick window going.
   */
  next(brokerAbsent = false): number {
    if (brokerAbsent && this.now() < this.quickUntil) {
      return Math.round(QUICK_RETRY_MIN_MS + this.random() * (QUICK_RETRY_MAX_MS - QUICK_RETRY_MIN_MS));
    }
    this.quickUntil = 0;
    const ceiling = Math.min(this.maxMs, this.initialMs * BACKOFF_MULTIPLIER ** this.attempt);
    this.attempt++;
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  /**
   * A stream opened `servedMs` ago was lost or drained by its broker: the backoff starts over and,
   * unless the stream was short-lived, the quick window opens.
   */
  connectionLost(servedMs: number): void {
    if (servedMs < QUICK_MIN_SERVED_MS) return;
    this.attempt = 0;
    this.quickUntil = this.now() + QUICK_WINDOW_MS;
  }

  reset(): void {
    this.attempt = 0;
  }
}
