import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { createRedisClient, whenReady } from '@st/live-state';
import type { Logger } from '@st/logging';
import { ADMITTED, type Admission, type LimitCounters, type LimitKey, type LimitName, type RequestLimits, bucketSize } from './limit-counters';
import { ADMIT_SCRIPT, LimitLayout, RENEW_SCRIPT } from './redis-limit-scripts';

/** A killed gateway's open slots stop counting this long after its last renewal. */
export const DEFAULT_SLOT_LEASE_MS = 20_000;
/** Several renewals per lease, so one slow or lost renewal does not free a slot in use. */
export const DEFAULT_SLOT_RENEW_MS = 5_000;
/** An admission Redis has not answered within this long is let through (fail open). */
export const DEFAULT_ADMIT_TIMEOUT_MS = 1_000;
/** At most one warning per this long while admissions fail open. */
const FAIL_OPEN_WARN_INTERVAL_MS = 30_000;
/** How long close waits for the last releases to be written. */
const CLOSE_TIMEOUT_MS = 1_000;
/** Members per renewal script, so one call stays small with thousands of open requests. */
const RENEW_BATCH = 500;

export interface RedisLimitCountersOptions {
  /** `redis://host:port[/db]` (ST_REDIS_URL); or pass `client`. */
  url?: string;
  /** A client made by the caller (tests); closed by `close()` all the same. */
  client?: Redis;
  /** Key prefix (ST_REDIS_PREFIX), default `st:`. */
  prefix?: string;
  logger: Logger;
  /** Names this gateway's slots; default hostname plus random, unique per process. */
  gatewayId?: string;
  leaseMs?: number;
  renewMs?: number;
  admitTimeoutMs?: number;
}

interface HeldSlot {
  member: string;
  userKey: string;
  tunnelKey: string;
}

type AdmitReply = [number, LimitName?, number?];

/**
 * LimitCounters shared by every gateway through Redis: one script per admission checks the
 * tunnel's and the user's open slots and the user's token bucket and takes them atomically
 * (layout: redis-limit-scripts.ts). Open slots are leased: this process renews the slots of its
 * open requests every few seconds, so a gateway killed mid-request frees them within a lease.
 *
 * Redis down or slow: admissions fail OPEN (admitted, with a warning at most every 30 s). Limits
 * protect agents from floods; refusing every request while Redis is away would turn a cache
 * outage into a total one. A slot admitted that way is still held here and renewed, so it is
 * counted once Redis is back.
 */
/** After an admission Redis did not answer, the next ones fail open at once for this long. */
const RETRY_AFTER_FAILURE_MS = 1_000;

export class RedisLimitCounters implements LimitCounters {
  /** When an admission last failed to reach Redis; undefined while it answers. */
  private lastFailureAt: number | undefined;
  readonly redis: Redis;
  readonly gatewayId: string;
  private readonly layout: LimitLayout;
  private readonly log: Logger;
  private readonly leaseMs: number;
  private readonly renewMs: number;
  private readonly admitTimeoutMs: number;
  /** Slots of admitted requests not yet released, by LimitKey; FIFO per key. */
  private readonly held = new Map<string, HeldSlot[]>();
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private renewing = false;
  private failedOpen = 0;
  private lastWarnAt = -Infinity;
  /** Until the first connection is made (or the admission timeout passed since start). */
  private firstConnection: Promise<void> | undefined;
  /** Renewal rounds done (for specs: time has passed without a sleep). */
  renewals = 0;

  constructor(options: RedisLimitCountersOptions) {
    this.layout = new LimitLayout(options.prefix ?? 'st:');
    this.log = options.logger.child({ component: 'limit-counters' });
    this.leaseMs = options.leaseMs ?? DEFAULT_SLOT_LEASE_MS;
    this.renewMs = options.renewMs ?? DEFAULT_SLOT_RENEW_MS;
    this.admitTimeoutMs = options.admitTimeoutMs ?? DEFAULT_ADMIT_TIMEOUT_MS;
    if (!(this.renewMs < this.leaseMs)) throw new Error(`limit slot renewal (${this.renewMs} ms) must be shorter than its lease (${this.leaseMs} ms)`);
    this.gatewayId = options.gatewayId ?? `${hostname()}-${randomBytes(4).toString('hex')}`;
    if (options.client) this.redis = options.client;
    else if (options.url) {
      // No offline queue: while Redis is away an admission fails at once (and is let through)
      // instead of waiting in a queue behind every other request.
      this.redis = createRedisClient({ url: options.url, role: 'limit-counters', logger: options.logger, overrides: { enableOfflineQueue: false } });
    } else throw new Error('RedisLimitCounters needs a url or a client');
    this.redis.defineCommand('stLimitAdmit', { numberOfKeys: 3, lua: ADMIT_SCRIPT });
    if (this.redis.status !== 'ready') {
      this.firstConnection = whenReady(this.redis, this.admitTimeoutMs)
        .catch(() => undefined)
        .then(() => {
          this.firstConnection = undefined;
        });
    }
  }

  /** Starts renewing the leases of this process's open slots. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.renew(), this.renewMs);
    this.timer.unref();
  }

  async admit(key: LimitKey, limits: RequestLimits): Promise<Admission> {
    // A gateway's first requests may come while its connection is still being made: without this
    // wait they would be admitted unchecked (no offline queue). Only the first admission timeout
    // after start is waited for; an outage after that fails open at once.
    if (this.firstConnection) await this.firstConnection;
    const slot: HeldSlot = {
      member: `${this.gatewayId}:${++this.seq}`,
      userKey: this.layout.userOpenKey(key.userId),
      tunnelKey: this.layout.tunnelOpenKey(key.tunnelId),
    };
    // Redis did not answer lately: one admission a second asks it again, the others fail open at
    // once instead of each waiting out the admission timeout (a half-open Redis answers nothing).
    const now = performance.now();
    if (this.lastFailureAt !== undefined && now - this.lastFailureAt < RETRY_AFTER_FAILURE_MS) {
      this.hold(key, slot);
      this.failOpen(key, new Error('Redis did not answer the previous admission'));
      return ADMITTED;
    }
    const args = [
      this.layout.bucketKey(key.userId),
      slot.userKey,
      slot.tunnelKey,
      limits.tunnelConcurrency,
      limits.userConcurrency,
      limits.userRps,
      limits.userRps > 0 ? bucketSize(limits) : 0,
      slot.member,
      this.leaseMs,
    ];
    const call = (this.redis as unknown as { stLimitAdmit(...a: (string | number)[]): Promise<AdmitReply> }).stLimitAdmit(...args);
    return withTimeout(call, this.admitTimeoutMs).then(
      (reply) => {
        this.lastFailureAt = undefined;
        if (reply[0] !== 1) return { admitted: false, limit: reply[1] as LimitName, retryAfterMs: Number(reply[2] ?? 1000) };
        this.hold(key, slot);
        return ADMITTED;
      },
      (err: unknown) => {
        // Held even so: if the script did run before the timeout, release removes the slot; if
        // not, the next renewal after Redis returns makes the counts true.
        this.hold(key, slot);
        this.lastFailureAt = performance.now();
        this.failOpen(key, err);
        return ADMITTED;
      },
    );
  }

  release(key: LimitKey): void {
    const id = heldId(key);
    const slots = this.held.get(id);
    const slot = slots?.shift();
    if (!slot) return;
    if (slots!.length === 0) this.held.delete(id);
    // Fire and forget: a release lost while Redis is away is a slot that expires with its lease.
    this.redis.zrem(slot.tunnelKey, slot.member).catch(() => undefined);
    this.redis.zrem(slot.userKey, slot.member).catch(() => undefined);
  }

  /** Open slots this process holds (for specs and metrics). */
  get heldCount(): number {
    let n = 0;
    for (const slots of this.held.values()) n += slots.length;
    return n;
  }

  /** Renews every open slot's lease; failures are logged, never thrown. */
  async renew(): Promise<void> {
    if (this.renewing) return;
    this.renewing = true;
    try {
      const pairs: [string, string][] = [];
      for (const slots of this.held.values()) {
        for (const s of slots) pairs.push([s.tunnelKey, s.member], [s.userKey, s.member]);
      }
      for (let i = 0; i < pairs.length; i += RENEW_BATCH) {
        const batch = pairs.slice(i, i + RENEW_BATCH);
        await this.redis.eval(RENEW_SCRIPT, batch.length, ...batch.map(([k]) => k), this.leaseMs, ...batch.map(([, m]) => m));
      }
      this.renewals++;
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'renewing open limit slots failed; retrying on the next tick');
    } finally {
      this.renewing = false;
    }
  }

  /**
   * Stops renewing and closes the connection without releasing anything: the slots still held
   * expire with their leases (what a killed gateway looks like to the others).
   */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    // QUIT lets the releases already sent reach Redis; bounded, as Redis may be away.
    await withTimeout(this.redis.quit(), CLOSE_TIMEOUT_MS).catch(() => undefined);
    this.redis.disconnect();
  }

  private hold(key: LimitKey, slot: HeldSlot): void {
    const id = heldId(key);
    const slots = this.held.get(id);
    if (slots) slots.push(slot);
    else this.held.set(id, [slot]);
  }

  private failOpen(key: LimitKey, err: unknown): void {
    this.failedOpen++;
    const now = performance.now();
    if (now - this.lastWarnAt < FAIL_OPEN_WARN_INTERVAL_MS) return;
    this.lastWarnAt = now;
    this.log.warn(
      { err: (err as Error).message, tunnelId: key.tunnelId, admittedUnchecked: this.failedOpen },
      'request limits unchecked: Redis (ST_REDIS_URL) did not answer, so requests are admitted without the shared limits until it does',
    );
    this.failedOpen = 0;
  }
}

function heldId(key: LimitKey): string {
  return `${key.userId}\n${key.tunnelId}`;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
