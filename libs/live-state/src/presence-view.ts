import type { ChangeFeed, ControlEvent } from '@st/events';
import type { Logger } from '@st/logging';
import type { PresenceEntry } from './presence-entry';
import type { RedisPresence } from './redis-presence';
import { NO_AGENT_VIEW, type TunnelLiveView, type TunnelRuntime } from './tunnel-runtime';

/** A killed broker publishes nothing: cached presence is re-read at least this often. */
export const DEFAULT_PRESENCE_MAX_AGE_MS = 1_000;
/** Tunnels whose presence is cached at most; the least recently read go first. */
export const DEFAULT_PRESENCE_CACHE_ENTRIES = 10_000;

export interface PresenceViewOptions {
  presence: Pick<RedisPresence, 'streamsOf'>;
  /** Tunnel events (agent, health, deleted, token_rotated…) drop the tunnel's cached presence. */
  feed: ChangeFeed;
  logger: Logger;
  maxAgeMs?: number;
  maxEntries?: number;
  /** Milliseconds on a monotonic clock (specs). */
  now?: () => number;
}

interface Cached {
  entries: PresenceEntry[];
  at: number;
}

/**
 * The live state of tunnels as the gateways and discovery see it: shared presence, cached per
 * tunnel, dropped when the change feed says the tunnel's streams changed and re-read after
 * `maxAgeMs` anyway (a broker killed with -9 says nothing; its leases expire). Concurrent reads
 * of one tunnel share one Redis call.
 *
 * Redis down: reads answer from the last presence read (however old), so gateways keep routing
 * to the brokers they knew; `degraded` says so for readiness. A tunnel never read answers as
 * having no agent.
 */
export class PresenceView implements TunnelRuntime {
  private readonly cache = new Map<string, Cached>();
  private readonly inflight = new Map<string, Promise<PresenceEntry[]>>();
  private readonly log: Logger;
  private readonly maxAgeMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly unsubscribe: () => void;
  private lastFailureAt: number | undefined;
  /** Bumped by every flush: a read that started before a flush does not refill the cache. */
  private generation = 0;

  constructor(private readonly options: PresenceViewOptions) {
    this.log = options.logger.child({ component: 'presence-view' });
    this.maxAgeMs = options.maxAgeMs ?? DEFAULT_PRESENCE_MAX_AGE_MS;
    this.maxEntries = options.maxEntries ?? DEFAULT_PRESENCE_CACHE_ENTRIES;
    this.now = options.now ?? (() => performance.now());
    this.unsubscribe = options.feed.subscribe((event) => this.onEvent(event));
  }

  /** True while the last presence read failed (Redis unreachable): answers may be stale. */
  get degraded(): boolean {
    return this.lastFailureAt !== undefined;
  }

  async viewOf(tunnelId: string): Promise<TunnelLiveView> {
    return viewFromEntries(await this.entriesOf(tunnelId));
  }

  /** The tunnel's live streams (cached), for routing. */
  async entriesOf(tunnelId: string): Promise<PresenceEntry[]> {
    const cached = this.cache.get(tunnelId);
    if (cached && this.now() - cached.at < this.maxAgeMs) {
      // Most recently read last, so the first key is the one to evict.
      this.cache.delete(tunnelId);
      this.cache.set(tunnelId, cached);
      return cached.entries;
    }
    let pending = this.inflight.get(tunnelId);
    if (!pending) {
      pending = this.read(tunnelId, cached);
      this.inflight.set(tunnelId, pending);
      void pending.finally(() => this.inflight.delete(tunnelId));
    }
    return pending;
  }

  /**
   * Makes one tunnel's cached presence stale (a stream there failed: read it again next time).
   * Kept, not deleted: with Redis down it is still the last known presence to route from.
   */
  invalidate(tunnelId: string): void {
    const cached = this.cache.get(tunnelId);
    if (cached) cached.at = -Infinity;
  }

  /** Drops everything cached (after a Redis reconnect: events may have been missed). */
  flush(): void {
    this.generation++;
    this.cache.clear();
    // Flushed when the feed is subscribed again, i.e. Redis is back: an idle gateway must not
    // keep reporting degraded until its next read.
    this.lastFailureAt = undefined;
  }

  close(): void {
    this.unsubscribe();
    this.cache.clear();
  }

  private async read(tunnelId: string, stale: Cached | undefined): Promise<PresenceEntry[]> {
    const generation = this.generation;
    try {
      const entries = await this.options.presence.streamsOf(tunnelId);
      if (this.lastFailureAt !== undefined) {
        this.lastFailureAt = undefined;
        this.log.info('presence readable again');
      }
      if (generation === this.generation) this.remember(tunnelId, entries);
      return entries;
    } catch (err) {
      if (this.lastFailureAt === undefined) {
        this.log.warn({ err: (err as Error).message }, 'presence unreadable (Redis down?): routing from the last known presence');
      }
      this.lastFailureAt = this.now();
      // Served again for one more max age before Redis is asked again: while it does not answer,
      // each read would otherwise wait out the command timeout.
      if (stale && generation === this.generation) this.remember(tunnelId, stale.entries);
      return stale?.entries ?? [];
    }
  }

  private remember(tunnelId: string, entries: PresenceEntry[]): void {
    this.cache.delete(tunnelId);
    this.cache.set(tunnelId, { entries, at: this.now() });
    while (this.cache.size > this.maxEntries) {
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
    }
  }

  private onEvent(event: ControlEvent): void {
    if (event.kind === 'tunnel') this.invalidate(event.tunnelId);
  }
}

/** A tunnel's view from its presence entries. */
export function viewFromEntries(entries: PresenceEntry[]): TunnelLiveView {
  if (entries.length === 0) return NO_AGENT_VIEW;
  let health: PresenceEntry['health'];
  for (const e of entries) if (e.health && (!health || e.health.checkedAt > health.checkedAt)) health = e.health;
  return {
    connected: entries.some((e) => !e.draining),
    health,
    connections: entries.map((e) => ({
      brokerId: e.brokerId,
      streamId: e.streamId,
      agentInstanceId: e.agentInstanceId,
      since: e.since,
      draining: e.draining,
      health: e.health,
    })),
  };
}
