import { TokenBucket } from './token-bucket';

/**
 * Pings an agent may send: st-agent sends none (it only answers ours), so this is room for other
 * implementations, not a budget to tune. HealthReports come every health interval; the bucket
 * allows several times that rate (see StreamRateLimits).
 */
export const PING_RATE_PER_SECOND = 10;
export const PING_BURST = 50;
export const HEALTH_RATE_PER_SECOND = 10;
export const HEALTH_BURST = 50;

/** A limit a frame went over: what the log line and the stream's status name. */
export interface RateBreach {
  /** The limit, e.g. "10 Ping frames per second (burst 50)". */
  limit: string;
  /** What came too often, e.g. "Ping frames". */
  what: string;
}

/**
 * The rates of the frames an agent sends on its own (Pings, HealthReports) on one stream: a peer
 * over them is cut (issue 7: millions of Pings in one message held the broker for seconds).
 */
export class StreamRateLimits {
  private readonly ping = new TokenBucket(PING_RATE_PER_SECOND, PING_BURST);
  private readonly health: TokenBucket;

  constructor(healthIntervalMs: number) {
    // A short health interval (tests use 300 ms) must stay well inside the limit.
    const healthRate = Math.max(HEALTH_RATE_PER_SECOND, (4 * 1000) / Math.max(1, healthIntervalMs));
    this.health = new TokenBucket(healthRate, Math.max(HEALTH_BURST, healthRate * 5));
  }

  /** Takes a Ping's place; the breach when there is none. */
  takePing(): RateBreach | undefined {
    return this.ping.take() ? undefined : breach('Ping', this.ping);
  }

  /** Takes a HealthReport's place; the breach when there is none. */
  takeHealth(): RateBreach | undefined {
    return this.health.take() ? undefined : breach('HealthReport', this.health);
  }
}

function breach(kind: string, bucket: TokenBucket): RateBreach {
  return { limit: `${bucket.ratePerSecond} ${kind} frames per second (burst ${bucket.burst})`, what: `${kind} frames` };
}
