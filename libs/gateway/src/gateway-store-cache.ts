import type { ChangeFeed } from '@st/events';
import type { Session, Tunnel, User } from '@st/store';
import type { GatewayStore } from './caller-auth';

/** How long an answer may be reused when no change feed tells us it changed (split layouts). */
const TTL_MS = 2_000;
/** Bound on each map, so that a flood of random keys or ids cannot grow memory. */
const MAX_ENTRIES = 10_000;

interface Entry<T> {
  value: T;
  /** The value as an already-settled promise, handed out on every hit (no promise per lookup). */
  answer: Promise<T>;
  expires: number;
}

/**
 * The gateway's lookups (API key → user, the caller's tunnel, its session) remembered for a short
 * time: every request needs them, and on a small machine they cost more than the relay itself.
 * Changes published on the feed (a stopped session, a deleted tunnel, revoked keys) drop the
 * affected entries at once, so revocation is not delayed in the one-process layout; the TTL
 * bounds staleness where no feed reaches the gateway. Misses are not cached: a key or tunnel
 * created a moment ago works at once.
 */
export class GatewayStoreCache implements GatewayStore {
  private readonly users = new Map<string, Entry<User>>();
  private readonly tunnels = new Map<string, Entry<Tunnel>>();
  private readonly sessions = new Map<string, Entry<Session>>();

  constructor(
    private readonly store: GatewayStore,
    feed: ChangeFeed | undefined,
    private readonly now: () => number = Date.now,
  ) {
    feed?.subscribe((event) => {
      if (event.kind === 'user') {
        for (const [key, e] of this.users) if (e.value.id === event.userId) this.users.delete(key);
      } else if (event.kind === 'tunnel') {
        this.tunnels.delete(`${event.userId}\n${event.tunnelId}`);
      } else {
        this.sessions.delete(event.sessionId);
        for (const [key, e] of this.tunnels) if (e.value.sessionId === event.sessionId) this.tunnels.delete(key);
      }
    });
  }

  // A hit is one map lookup: no closure, no async function and no new promise per request.
  authenticateApiKey(apiKey: string): Promise<User | null> {
    return this.hit(this.users, apiKey) ?? this.load(this.users, apiKey, () => this.store.authenticateApiKey(apiKey));
  }

  getTunnelForUser(userId: string, tunnelId: string): Promise<Tunnel | null> {
    const key = `${userId}\n${tunnelId}`;
    return this.hit(this.tunnels, key) ?? this.load(this.tunnels, key, () => this.store.getTunnelForUser(userId, tunnelId));
  }

  getSession(id: string): Promise<Session | null> {
    return this.hit(this.sessions, id) ?? this.load(this.sessions, id, () => this.store.getSession(id));
  }

  // Listing and lookups by name serve the unified endpoint; they stay uncached.
  getTunnelByName(userId: string, name: string): Promise<Tunnel | null> {
    return this.store.getTunnelByName(userId, name);
  }

  listTunnels(userId: string): Promise<Tunnel[]> {
    return this.store.listTunnels(userId);
  }

  private hit<T>(map: Map<string, Entry<T>>, key: string): Promise<T> | undefined {
    const entry = map.get(key);
    return entry !== undefined && entry.expires > this.now() ? entry.answer : undefined;
  }

  private async load<T>(map: Map<string, Entry<T>>, key: string, load: () => Promise<T | null>): Promise<T | null> {
    const now = this.now();
    const value = await load();
    if (value === null) {
      map.delete(key);
      return null;
    }
    if (map.size >= MAX_ENTRIES) map.clear();
    map.set(key, { value, answer: Promise.resolve(value), expires: now + TTL_MS });
    return value;
  }
}
