import { TunnelError } from '@st/tunnel-protocol';

/** Time and timers, injectable so that specs need no real waiting. */
export interface DeadlineClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  setTimer(fn: () => void, ms: number): { cancel(): void };
}

export const REAL_CLOCK: DeadlineClock = {
  now: () => performance.now(),
  setTimer(fn, ms) {
    const timer = setTimeout(fn, ms);
    // A pending deadline must not keep a stopping process alive.
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
};

export interface BodyDeadlineOptions {
  /** No body byte for this long → 408 (ST_BODY_IDLE_TIMEOUT_MS). */
  idleTimeoutMs: number;
  /** Bytes per second a body must average over each window; 0 = no such rule (ST_BODY_MIN_RATE). */
  minBytesPerSecond: number;
  /** Length of the window the rate is averaged over (ST_BODY_RATE_WINDOW_MS). */
  rateWindowMs: number;
  clock?: DeadlineClock;
}

/**
 * Watches one request body as it arrives and expires, once, when the client stops sending (no
 * byte for `idleTimeoutMs`) or trickles (under `minBytesPerSecond` on average over a window):
 * a slow-loris upload must not hold a connection, and an exchange, for as long as it likes.
 * Time spent waiting on our side (the agent has no credit) is not counted against the client.
 * Per chunk it only adds numbers: one timer per body, re-armed at the next moment that matters.
 */
export class BodyDeadline {
  private readonly clock: DeadlineClock;
  private lastByteAt: number;
  private windowStart: number;
  private windowBytes = 0;
  private pausedAt: number | undefined;
  private timer: { cancel(): void } | undefined;
  private stopped = false;
  private listener: ((error: TunnelError) => void) | undefined;
  /** The error it expired with, once it has. */
  expired: TunnelError | undefined;

  constructor(private readonly options: BodyDeadlineOptions) {
    this.clock = options.clock ?? REAL_CLOCK;
    this.lastByteAt = this.windowStart = this.clock.now();
    this.schedule();
  }

  /** Called once when the deadline expires (at once if it already has). */
  onExpire(listener: (error: TunnelError) => void): void {
    this.listener = listener;
    if (this.expired) listener(this.expired);
  }

  /** `n` body bytes arrived. */
  bytes(n: number): void {
    if (n === 0) return;
    this.lastByteAt = this.clock.now();
    this.windowBytes += n;
  }

  /** The gateway stops reading for its own reasons (waiting for the agent's credit). */
  pause(): void {
    if (this.pausedAt === undefined) this.pausedAt = this.clock.now();
  }

  /** Reading again: the paused time is not the client's. */
  resume(): void {
    if (this.pausedAt === undefined) return;
    const paused = this.clock.now() - this.pausedAt;
    this.pausedAt = undefined;
    this.lastByteAt += paused;
    this.windowStart += paused;
    if (!this.timer && !this.stopped) this.schedule();
  }

  /** The body is complete (or the request is over another way). */
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private schedule(): void {
    const { idleTimeoutMs, minBytesPerSecond, rateWindowMs } = this.options;
    const next = Math.min(this.lastByteAt + idleTimeoutMs, minBytesPerSecond > 0 ? this.windowStart + rateWindowMs : Infinity);
    this.timer = this.clock.setTimer(() => this.tick(), Math.max(0, next - this.clock.now()));
  }

  private tick(): void {
    this.timer = undefined;
    // Paused: resume() re-arms, with the deadlines moved on by the pause.
    if (this.stopped || this.pausedAt !== undefined) return;
    const { idleTimeoutMs, minBytesPerSecond, rateWindowMs } = this.options;
    const now = this.clock.now();
    if (now - this.lastByteAt >= idleTimeoutMs) {
      return this.expire(
        new TunnelError(
          'request_timeout',
          `no request body byte arrived for ${idleTimeoutMs} ms (ST_BODY_IDLE_TIMEOUT_MS): send the whole body without pauses`,
        ),
      );
    }
    const elapsed = now - this.windowStart;
    if (minBytesPerSecond > 0 && elapsed >= rateWindowMs) {
      const rate = (this.windowBytes * 1000) / elapsed;
      if (rate < minBytesPerSecond) {
        return this.expire(
          new TunnelError(
            'request_timeout',
            `the request body arrived at ${Math.floor(rate)} bytes/s over ${Math.round(elapsed / 1000)} s, under the minimum of ${minBytesPerSecond} bytes/s (ST_BODY_MIN_RATE): send the body faster`,
          ),
        );
      }
      this.windowStart = now;
      this.windowBytes = 0;
    }
    this.schedule();
  }

  private expire(error: TunnelError): void {
    this.stopped = true;
    this.expired = error;
    this.listener?.(error);
  }
}
