/**
 * The counters behind per-user and per-tunnel request limits. In one process they live in memory
 * (InMemoryLimitCounters); once gateway replicas must share them, a Redis implementation (one
 * script per admission) answers the same interface, asynchronously.
 */

/** The request limits of st-server; 0 = no limit for each. */
export interface RequestLimits {
  /** Open exchanges per tunnel (ST_LIMIT_TUNNEL_CONCURRENCY). */
  tunnelConcurrency: number;
  /** Open exchanges per user across all their tunnels (ST_LIMIT_USER_CONCURRENCY). */
  userConcurrency: number;
  /** Requests per second per user, refilling the token bucket (ST_LIMIT_USER_RPS). */
  userRps: number;
  /** Size of the user's token bucket: the burst allowed above the rate (ST_LIMIT_USER_BURST). */
  userBurst: number;
}

/** Which limit refused a request. */
export type LimitName = 'tunnel_concurrency' | 'user_concurrency' | 'user_rate';

/** Whose counters a request counts against. */
export interface LimitKey {
  userId: string;
  tunnelId: string;
}

export type Admission = { admitted: true } | { admitted: false; limit: LimitName; retryAfterMs: number };

export interface LimitCounters {
  /**
   * Checks every limit and, only when all allow, takes one rate token of the user and one open
   * slot of the user and of the tunnel, atomically. In memory the answer is immediate (no
   * promise on the hot path); a shared store returns a promise.
   */
  admit(key: LimitKey, limits: RequestLimits): Admission | Promise<Admission>;
  /** Gives back the open slots of an admitted request: exactly once per admission. */
  release(key: LimitKey): void;
  /** Frees what the counters hold outside the process (a connection); called by Gateway.close. */
  close?(): Promise<void>;
}

/** The one admitted answer (no allocation per request). */
export const ADMITTED: Admission = { admitted: true };

/** The rate bucket a user has not touched lately is full: forgetting it changes nothing. */
interface Bucket {
  tokens: number;
  at: number;
}

export interface InMemoryLimitCountersOptions {
  /** Milliseconds on a monotonic clock (injectable for specs). */
  now?: () => number;
  /** How often, at most, full buckets are forgotten (default 10 s). */
  sweepIntervalMs?: number;
}

/**
 * LimitCounters for one process. Memory is bounded by the users and tunnels active right now:
 * open counts are deleted when they fall to 0, and buckets that have refilled are swept on the
 * way (at most once per sweep interval, from admit itself: no timer).
 */
export class InMemoryLimitCounters implements LimitCounters {
  private readonly buckets = new Map<string, Bucket>();
  private readonly userOpen = new Map<string, number>();
  private readonly tunnelOpen = new Map<string, number>();
  private readonly now: () => number;
  private readonly sweepIntervalMs: number;
  private lastSweep: number;

  constructor(options: InMemoryLimitCountersOptions = {}) {
    this.now = options.now ?? (() => performance.now());
    this.sweepIntervalMs = options.sweepIntervalMs ?? 10_000;
    this.lastSweep = this.now();
  }

  admit(key: LimitKey, limits: RequestLimits): Admission {
    const tunnelOpen = this.tunnelOpen.get(key.tunnelId) ?? 0;
    if (limits.tunnelConcurrency > 0 && tunnelOpen >= limits.tunnelConcurrency) {
      return { admitted: false, limit: 'tunnel_concurrency', retryAfterMs: 1000 };
    }
    const userOpen = this.userOpen.get(key.userId) ?? 0;
    if (limits.userConcurrency > 0 && userOpen >= limits.userConcurrency) {
      return { admitted: false, limit: 'user_concurrency', retryAfterMs: 1000 };
    }
    if (limits.userRps > 0) {
      const now = this.now();
      if (now - this.lastSweep >= this.sweepIntervalMs) this.sweep(now, limits);
      const size = bucketSize(limits);
      const bucket = this.buckets.get(key.userId);
      if (!bucket) {
        this.buckets.set(key.userId, { tokens: size - 1, at: now });
      } else {
        const tokens = Math.min(size, bucket.tokens + ((now - bucket.at) * limits.userRps) / 1000);
        bucket.at = now;
        if (tokens < 1) {
          bucket.tokens = tokens;
          return { admitted: false, limit: 'user_rate', retryAfterMs: ((1 - tokens) * 1000) / limits.userRps };
        }
        bucket.tokens = tokens - 1;
      }
    }
    this.tunnelOpen.set(key.tunnelId, tunnelOpen + 1);
    this.userOpen.set(key.userId, userOpen + 1);
    return ADMITTED;
  }

  release(key: LimitKey): void {
    decrement(this.tunnelOpen, key.tunnelId);
    decrement(this.userOpen, key.userId);
  }

  /** Open exchanges of a user or tunnel now (for specs and metrics). */
  openOf(kind: 'user' | 'tunnel', id: string): number {
    return (kind === 'user' ? this.userOpen : this.tunnelOpen).get(id) ?? 0;
  }

  /** Users, tunnels and buckets held in memory (for specs: it must not grow with idle users). */
  get size(): { buckets: number; users: number; tunnels: number } {
    return { buckets: this.buckets.size, users: this.userOpen.size, tunnels: this.tunnelOpen.size };
  }

  private sweep(now: number, limits: RequestLimits): void {
    this.lastSweep = now;
    const size = bucketSize(limits);
    for (const [user, b] of this.buckets) {
      if (b.tokens + ((now - b.at) * limits.userRps) / 1000 >= size) this.buckets.delete(user);
    }
  }
}

/** The bucket holds ST_LIMIT_USER_BURST tokens; 0 there means one second's worth of the rate. */
export function bucketSize(limits: RequestLimits): number {
  return limits.userBurst > 0 ? limits.userBurst : Math.max(1, limits.userRps);
}

function decrement(map: Map<string, number>, id: string): void {
  const n = map.get(id);
  if (n === undefined) return;
  if (n <= 1) map.delete(id);
  else map.set(id, n - 1);
}
