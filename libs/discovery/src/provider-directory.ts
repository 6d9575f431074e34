import type { ChangeFeed, ControlEvent } from '@st/events';
import type { Logger } from '@st/logging';
import { type Provider, ProviderChange } from '@st/proto';
import type { Session, Store } from '@st/store';
import type { TunnelRuntime } from '@st/live-state';
import { describeProvider, describeTunnel } from './tunnel-view';
import { WatchQuota } from './watch-quota';

export interface ProviderDirectoryOptions {
  store: Store;
  runtime: TunnelRuntime;
  feed: ChangeFeed;
  publicUrl: string;
  logger: Logger;
  /** Open watches per user, gRPC and Connect together; 0 or absent = no limit (ST_MAX_WATCHES_PER_USER). */
  maxWatchesPerUser?: number;
  /**
   * Subscribes to "events may have been missed" (RedisChangeFeed.onResync after a Redis
   * reconnect); returns the unsubscribe. Each open watch then recomputes all its user's providers
   * and emits what differs from what it last sent. Absent with the in-process feed, which loses
   * nothing.
   */
  onResync?: (listener: () => void) => () => void;
}

/** One event of a watch. */
export interface ProviderEvent {
  change: ProviderChange;
  provider: Provider | undefined;
}

/** An open watch; close it when the caller goes away. */
export interface ProviderWatch {
  close(): void;
}

/**
 * A user's AI Chat providers: their tunnels with the OpenAI toggle, with live status. The same
 * logic serves gRPC and Connect. Watches are fed by the change feed and recompute the affected
 * providers from the store and the broker, one event at a time, so changes arrive in order.
 */
export class ProviderDirectory {
  private readonly watchQuota: WatchQuota;

  constructor(private readonly options: ProviderDirectoryOptions) {
    this.watchQuota = new WatchQuota(options.maxWatchesPerUser ?? 0);
  }

  async list(userId: string): Promise<Provider[]> {
    const { store } = this.options;
    const tunnels = (await store.listTunnels(userId)).filter((t) => t.openai);
    const sessions = new Map<string, Session | null>();
    for (const t of tunnels) {
      if (t.sessionId && !sessions.has(t.sessionId)) sessions.set(t.sessionId, await store.getSession(t.sessionId));
    }
    const views = await Promise.all(tunnels.map((t) => this.options.runtime.viewOf(t.id)));
    return tunnels
      .map((t, i) => describeProvider(describeTunnel(t, t.sessionId ? (sessions.get(t.sessionId) ?? null) : null, views[i], this.options.publicUrl)))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Open WatchProviders streams (gRPC and Connect), and the users holding them: read by the metrics on a scrape. */
  get openWatches(): { watches: number; users: number } {
    return { watches: this.watchQuota.watches, users: this.watchQuota.users };
  }

  /** The provider with that id if it is the user's, else undefined. */
  async get(userId: string, tunnelId: string): Promise<Provider | undefined> {
    const tunnel = await this.options.store.getTunnelForUser(userId, tunnelId);
    if (!tunnel || !tunnel.openai) return undefined;
    const session = tunnel.sessionId ? await this.options.store.getSession(tunnel.sessionId) : null;
    return describeProvider(describeTunnel(tunnel, session, await this.options.runtime.viewOf(tunnel.id), this.options.publicUrl));
  }

  /**
   * Sends ADDED for each current provider, then SYNCED, then every change. Events for the user
   * that arrive while the snapshot is read are queued behind it, so none is lost or reordered;
   * changes to a tunnel that arrive while its recomputation waits are folded into it.
   * Throws WatchLimitError when the user has ST_MAX_WATCHES_PER_USER watches open.
   */
  watch(userId: string, emit: (event: ProviderEvent) => void): ProviderWatch {
    const release = this.watchQuota.acquire(userId);
    const known = new Map<string, Provider>();
    let closed = false;
    let chain: Promise<void> = Promise.resolve();
    const enqueue = (work: () => Promise<void>) => {
      chain = chain.then(work).catch((err: unknown) => this.options.logger.error({ err, userId }, 'provider watch update failed'));
    };
    // Tunnels whose recomputation is queued and not started: it reads the state when it runs, so
    // a burst of changes to one tunnel (health reports, an agent flapping) costs one store read
    // and at most one event, not one per change.
    const queuedTunnels = new Set<string>();
    // After a partition every provider may have changed unheard: one full recomputation (however
    // many reconnects pile up before it runs) brings the watcher back to the truth.
    let resyncQueued = false;
    const unsubscribeResync = this.options.onResync?.(() => {
      if (closed || resyncQueued) return;
      resyncQueued = true;
      enqueue(() => {
        resyncQueued = false;
        return this.resync(userId, known, (e) => !closed && emit(e));
      });
    });
    const unsubscribe = this.options.feed.subscribe((event) => {
      if (event.userId !== userId || closed || event.kind === 'user') return;
      if (event.kind === 'tunnel') {
        if (queuedTunnels.has(event.tunnelId)) return;
        queuedTunnels.add(event.tunnelId);
        enqueue(() => {
          queuedTunnels.delete(event.tunnelId);
          return this.apply(userId, event, known, (e) => !closed && emit(e));
        });
        return;
      }
      enqueue(() => this.apply(userId, event, known, (e) => !closed && emit(e)));
    });
    enqueue(async () => {
      for (const p of await this.list(userId)) {
        known.set(p.id, p);
        if (!closed) emit({ change: ProviderChange.PROVIDER_CHANGE_ADDED, provider: p });
      }
      if (!closed) emit({ change: ProviderChange.PROVIDER_CHANGE_SYNCED, provider: undefined });
    });
    return {
      close: () => {
        closed = true;
        unsubscribe();
        unsubscribeResync?.();
        release();
      },
    };
  }

  /** Compares every current provider of the user with what the watcher was sent; emits the differences. */
  private async resync(userId: string, known: Map<string, Provider>, emit: (e: ProviderEvent) => void): Promise<void> {
    const current = await this.list(userId);
    const currentIds = new Set(current.map((p) => p.id));
    for (const [id, before] of [...known]) {
      if (currentIds.has(id)) continue;
      known.delete(id);
      emit({ change: ProviderChange.PROVIDER_CHANGE_REMOVED, provider: before });
    }
    for (const now of current) {
      const before = known.get(now.id);
      known.set(now.id, now);
      if (!before) emit({ change: ProviderChange.PROVIDER_CHANGE_ADDED, provider: now });
      else if (!sameProvider(before, now)) emit({ change: ProviderChange.PROVIDER_CHANGE_UPDATED, provider: now });
    }
    this.options.logger.debug({ userId, providers: current.length }, 'provider watch re-synced after a change feed reconnect');
  }

  private async apply(userId: string, event: ControlEvent, known: Map<string, Provider>, emit: (e: ProviderEvent) => void): Promise<void> {
    if (event.kind === 'user') return; // keys changed: no provider did
    const ids =
      event.kind === 'tunnel'
        ? [event.tunnelId]
        : (await this.options.store.listTunnelsOfSession(userId, event.sessionId)).map((t) => t.id);
    for (const id of ids) {
      const now = await this.get(userId, id);
      const before = known.get(id);
      if (!now) {
        if (before) {
          known.delete(id);
          emit({ change: ProviderChange.PROVIDER_CHANGE_REMOVED, provider: before });
        }
        continue;
      }
      known.set(id, now);
      if (!before) emit({ change: ProviderChange.PROVIDER_CHANGE_ADDED, provider: now });
      else if (!sameProvider(before, now)) emit({ change: ProviderChange.PROVIDER_CHANGE_UPDATED, provider: now });
    }
  }
}

/** Equal for a watcher: the health check time alone changing is not news. */
function sameProvider(a: Provider, b: Provider): boolean {
  return (
    a.status === b.status &&
    a.healthy === b.healthy &&
    a.name === b.name &&
    a.baseUrl === b.baseUrl &&
    a.sessionName === b.sessionName &&
    sameConnections(a, b) &&
    a.models.join('\n') === b.models.join('\n')
  );
}

/** Streams coming, going or starting to drain are news (the console shows them); health times are not. */
function sameConnections(a: Provider, b: Provider): boolean {
  const key = (p: Provider) => p.connections.map((c) => `${c.brokerId}/${c.streamId}/${c.draining}/${c.healthy}`).join('\n');
  return key(a) === key(b);
}
