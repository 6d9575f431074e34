import type { Redis } from 'ioredis';
import type { Logger } from '@st/logging';
import { asLiveStateError } from './live-state-error';
import { decodeEntry, encodeEntry, type PresenceEntry, type PresencePatch } from './presence-entry';
import {
  ANNOUNCE_BROKER_SCRIPT,
  CLEAR_BROKER_SCRIPT,
  LIVE_BROKERS_SCRIPT,
  PUT_SCRIPT,
  PresenceLayout,
  REMOVE_SCRIPT,
  STREAMS_OF_SCRIPT,
  WITHDRAW_BROKER_SCRIPT,
} from './presence-layout';
import { createRedisClient } from './redis-client';

/** A killed broker's streams are gone from presence this long after its last refresh. */
export const DEFAULT_LEASE_MS = 10_000;
/** Several refreshes per lease, so one slow or lost refresh does not expire a live stream. */
export const DEFAULT_REFRESH_MS = 3_000;
/** Streams written by one script call. */
const WRITE_BATCH = 500;

/** A broker whose heartbeat is live. */
export interface LiveBroker {
  brokerId: string;
  advertiseAddress: string;
}

export interface RedisPresenceOptions {
  /** `redis://host:port[/db]` (ST_REDIS_URL); or pass `client`. */
  url?: string;
  /** A client made by the caller (tests); closed by `close()` all the same. */
  client?: Redis;
  /** Key prefix (ST_REDIS_PREFIX), default `st:`. */
  prefix?: string;
  logger: Logger;
  leaseMs?: number;
  refreshMs?: number;
}

/**
 * Which agent streams each tunnel has, across brokers, as leased Redis keys (layout:
 * presence-layout.ts). A broker `put`s the streams it holds and the refresh timer renews their
 * leases; readers (gateways, discovery) call `streamsOf`.
 *
 * Redis down: the client has no offline queue, so every call rejects at once (or after the 2 s
 * command timeout on a half-open connection) with LiveStateUnavailableError, also before the
 * first connection is made (`await whenReady(presence.redis, ms)` at start to wait); nothing throws
 * outside the returned promises. `put`/`update`/`remove` change this broker's own record first,
 * so the next refresh after Redis returns writes the true state even if the call itself failed.
 */
export class RedisPresence {
  readonly redis: Redis;
  private readonly layout: PresenceLayout;
  private readonly log: Logger;
  private readonly leaseMs: number;
  private readonly refreshMs: number;
  /** The streams this process holds, by broker-set member; what refresh re-writes. */
  private readonly own = new Map<string, PresenceEntry>();
  private timer: NodeJS.Timeout | undefined;
  private refreshing = false;
  /** The broker this process announces (re-announced with every refresh). */
  private announced: LiveBroker | undefined;
  private lastLiveBrokers = 1;

  constructor(options: RedisPresenceOptions) {
    this.layout = new PresenceLayout(options.prefix ?? 'st:');
    this.log = options.logger.child({ component: 'presence' });
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.refreshMs = options.refreshMs ?? DEFAULT_REFRESH_MS;
    if (!(this.refreshMs < this.leaseMs)) throw new Error(`presence refresh (${this.refreshMs} ms) must be shorter than its lease (${this.leaseMs} ms)`);
    if (options.client) this.redis = options.client;
    else if (options.url) {
      this.redis = createRedisClient({ url: options.url, role: 'presence', logger: options.logger, overrides: { enableOfflineQueue: false } });
    } else throw new Error('RedisPresence needs a url or a client');
  }

  /** Starts renewing the leases of this process's entries. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
  }

  /** Stops renewing: entries then expire by themselves (what a killed broker looks like). */
  stopRefreshing(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  async put(entry: PresenceEntry): Promise<void> {
    this.own.set(this.key(entry), { ...entry });
    await this.write([entry], 'put');
  }

  /** Changes an entry this process put; false when it holds no such stream. */
  async update(brokerId: string, tunnelId: string, streamId: string, patch: PresencePatch): Promise<boolean> {
    const key = this.key({ brokerId, tunnelId, streamId });
    const current = this.own.get(key);
    if (!current) return false;
    const next = { ...current, ...patch };
    this.own.set(key, next);
    await this.write([next], 'update');
    return true;
  }

  async remove(brokerId: string, tunnelId: string, streamId: string): Promise<void> {
    this.own.delete(this.key({ brokerId, tunnelId, streamId }));
    const member = this.layout.member(brokerId, streamId);
    await this.run('remove', () =>
      this.redis.eval(
        REMOVE_SCRIPT,
        2,
        this.layout.tunnelKey(tunnelId),
        this.layout.brokerKey(brokerId),
        this.layout.streamKey(tunnelId, member),
        member,
        `${tunnelId}\n${member}`,
      ),
    );
  }

  /** Removes every entry `brokerId` left (its previous run's); returns how many. */
  async clearBroker(brokerId: string): Promise<number> {
    const removed = await this.run('clearBroker', () =>
      this.redis.eval(CLEAR_BROKER_SCRIPT, 1, this.layout.brokerKey(brokerId), this.layout.streamKeyPrefix, this.layout.tunnelKey('')),
    );
    return Number(removed);
  }

  /**
   * Announces a broker as live for one lease (the refresh timer keeps announcing it until
   * `withdrawBroker`); returns how many brokers are live, this one included.
   */
  async announceBroker(brokerId: string, advertiseAddress: string): Promise<number> {
    this.announced = { brokerId, advertiseAddress };
    return this.heartbeat(this.announced);
  }

  /** Stops announcing the broker and takes it off the live list at once (it is shutting down). */
  async withdrawBroker(brokerId: string): Promise<void> {
    if (this.announced?.brokerId === brokerId) this.announced = undefined;
    await this.run('withdrawBroker', () => this.redis.eval(WITHDRAW_BROKER_SCRIPT, 2, this.layout.brokersKey, this.layout.brokerAddressesKey, brokerId));
  }

  /** The brokers whose heartbeat is live, sorted by id. */
  async liveBrokers(): Promise<LiveBroker[]> {
    const flat = (await this.run('liveBrokers', () => this.redis.eval(LIVE_BROKERS_SCRIPT, 2, this.layout.brokersKey, this.layout.brokerAddressesKey))) as string[];
    const out: LiveBroker[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ brokerId: flat[i], advertiseAddress: flat[i + 1] });
    return out.sort((a, b) => a.brokerId.localeCompare(b.brokerId));
  }

  /**
   * How many brokers were live at this process's last heartbeat (at least 1: this one), without a
   * round trip; 1 before the first heartbeat and while Redis is down, when nothing better is known.
   */
  get liveBrokerCount(): number {
    return this.lastLiveBrokers;
  }

  /** The tunnel's live streams (expired ones skipped and pruned), in one round trip. */
  async streamsOf(tunnelId: string): Promise<PresenceEntry[]> {
    const values = (await this.run('streamsOf', () =>
      this.redis.eval(STREAMS_OF_SCRIPT, 1, this.layout.tunnelKey(tunnelId), this.layout.streamKeyPrefix, tunnelId),
    )) as string[];
    const entries: PresenceEntry[] = [];
    for (const value of values) {
      const entry = decodeEntry(value);
      if (entry) entries.push(entry);
      else this.log.warn({ tunnelId }, 'presence entry that is not valid JSON ignored');
    }
    return entries;
  }

  /** Renews every lease this process holds; failures are logged, never thrown. */
  /** True when this call wrote everything this process holds (false: skipped or failed). */
  async refresh(): Promise<boolean> {
    if (this.refreshing || (this.own.size === 0 && !this.announced)) return false;
    this.refreshing = true;
    try {
      if (this.announced) await this.heartbeat(this.announced);
      if (this.own.size > 0) await this.write([...this.own.values()], 'refresh');
      return true;
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'presence refresh failed; retrying on the next tick');
      return false;
    } finally {
      this.refreshing = false;
    }
  }

  /** Stops refreshing and closes the connection; entries stay until removed or expired. */
  async close(): Promise<void> {
    this.stopRefreshing();
    this.redis.disconnect();
  }

  private async heartbeat(broker: LiveBroker): Promise<number> {
    const count = Number(
      await this.run('announceBroker', () =>
        this.redis.eval(ANNOUNCE_BROKER_SCRIPT, 2, this.layout.brokersKey, this.layout.brokerAddressesKey, broker.brokerId, broker.advertiseAddress, this.leaseMs),
      ),
    );
    this.lastLiveBrokers = Math.max(1, count);
    return this.lastLiveBrokers;
  }

  private async write(entries: PresenceEntry[], operation: string): Promise<void> {
    // One script per broker set: a process normally advertises for one broker id.
    const byBroker = new Map<string, PresenceEntry[]>();
    for (const e of entries) {
      const list = byBroker.get(e.brokerId);
      if (list) list.push(e);
      else byBroker.set(e.brokerId, [e]);
    }
    for (const [brokerId, list] of byBroker) {
      // In batches: one script holds Redis for its whole run, and a broker may hold thousands.
      for (let i = 0; i < list.length; i += WRITE_BATCH) {
        const args = list.slice(i, i + WRITE_BATCH).flatMap((e) => [e.tunnelId, this.layout.member(e.brokerId, e.streamId), encodeEntry(e)]);
        await this.run(operation, () =>
          this.redis.eval(PUT_SCRIPT, 1, this.layout.brokerKey(brokerId), this.layout.streamKeyPrefix, this.leaseMs, this.layout.tunnelKey(''), ...args),
        );
      }
    }
  }

  private async run<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw asLiveStateError(operation, err);
    }
  }

  private key(e: Pick<PresenceEntry, 'brokerId' | 'tunnelId' | 'streamId'>): string {
    return `${e.tunnelId}\n${this.layout.member(e.brokerId, e.streamId)}`;
  }
}
