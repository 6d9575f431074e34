import type { UsageDelta, UsageQuery, UsageSummary } from './usage';

/** A person or service account that owns API keys and tunnels. */
export interface User {
  id: string;
  name: string;
  /** ISO 8601, UTC. */
  createdAt: string;
}

export type SessionState = 'running' | 'stopped';

/**
 * A compute session on a cluster node, owned by one user. Tunnels belong to a session; stopping
 * the session is recorded here, and what that means for its tunnels is decided by the caller.
 */
export interface Session {
  /** `s-…`. */
  id: string;
  userId: string;
  /** Unique among the user's sessions. */
  name: string;
  state: SessionState;
  createdAt: string;
  /** When the state last changed (equals createdAt until then). ISO 8601, UTC. */
  updatedAt: string;
}

/** What may be shown about an API key; the key itself is only ever returned at creation. */
export interface ApiKeyInfo {
  id: string;
  userId: string;
  /** The first characters of the key, so a user can tell keys apart without revealing them. */
  hint: string;
  createdAt: string;
}

export type TunnelState = 'started' | 'stopped';

/** A named route from the gateway to a model server inside one compute session. */
export interface Tunnel {
  id: string;
  userId: string;
  name: string;
  /** Host the agent dials inside the session; default `localhost`. */
  remoteHost: string;
  /** Port the agent dials inside the session; default 8000. */
  remotePort: number;
  /** Whether the remote speaks the OpenAI API; default true. */
  openai: boolean;
  /** default `started`. */
  state: TunnelState;
  /** The session the tunnel belongs to; null only for tunnels created before sessions existed. */
  sessionId: string | null;
  /**
   * Whether an upstream API key is stored. The key itself is write-only: normal reads never carry
   * it, only {@link Store.getUpstreamKeyCiphertext} does.
   */
  hasUpstreamKey: boolean;
  createdAt: string;
}

export interface NewTunnel {
  userId: string;
  name: string;
  /** One of the same user's sessions. */
  sessionId?: string;
  remoteHost?: string;
  remotePort?: number;
  openai?: boolean;
  /**
   * The model server's own API key, already encrypted by the caller: the store keeps it as an
   * opaque string and never sees the key. Omitted or empty: no key.
   */
  upstreamKeyCiphertext?: string;
}

/** Tunnels by the state the store knows ({@link Store.countTunnels}). */
export interface TunnelCounts {
  started: number;
  stopped: number;
}

/** Names of the installation's settings ({@link Store.getSetting}). */
export const SETTING = {
  /** Hex SHA-256 digest of the admin token, when ST_ADMIN_TOKEN is not set. */
  adminTokenDigest: 'admin_token_digest',
} as const;

export const TUNNEL_DEFAULTS = { remoteHost: 'localhost', remotePort: 8000, openai: true, state: 'started' } as const;

/**
 * Persistent state of Session Tunnels. Asynchronous so that a networked backend (PostgreSQL) can
 * implement it; secrets are never stored, only their digests, so each secret is returned once.
 * Methods taking a `userId` next to an id only ever see that user's rows: another user's session
 * or tunnel behaves exactly like a missing one, so ids cannot be probed across users.
 * Lists are ordered by createdAt, then id, so they are stable across backends and pages.
 */
export interface Store {
  /** @throws StoreConflictError when the name is taken. */
  createUser(name: string): Promise<User>;
  getUser(id: string): Promise<User | null>;
  getUserByName(name: string): Promise<User | null>;
  /** Every user, ordered by createdAt, then id (admin listing). */
  listUsers(): Promise<User[]>;
  /** @throws StoreNotFoundError when the user does not exist. */
  createApiKey(userId: string): Promise<{ info: ApiKeyInfo; apiKey: string }>;
  /** Keys that still work (not revoked), oldest first. */
  listApiKeys(userId: string): Promise<ApiKeyInfo[]>;
  /** False when the key is missing, already revoked or belongs to another user. */
  revokeApiKey(userId: string, keyId: string): Promise<boolean>;
  /** How many keys were revoked. */
  revokeAllApiKeys(userId: string): Promise<number>;
  /** The key's owner; null for an unknown, revoked or malformed key. */
  authenticateApiKey(apiKey: string): Promise<User | null>;
  /**
   * A new session, `running`, with updatedAt = createdAt.
   * @throws StoreConflictError when the user already has a session of that name.
   * @throws StoreNotFoundError when the user does not exist.
   */
  createSession(userId: string, name: string): Promise<Session>;
  getSession(id: string): Promise<Session | null>;
  /** Null when missing or owned by someone else. */
  getSessionForUser(userId: string, id: string): Promise<Session | null>;
  /** Ordered by createdAt, then id. */
  listSessions(userId: string): Promise<Session[]>;
  /**
   * Sets the state and bumps updatedAt (even when the state does not change: it records the
   * request). Tunnels of the session are left as they are. Null when missing or someone else's.
   */
  setSessionState(userId: string, id: string, state: SessionState): Promise<Session | null>;
  /** The user's tunnels of that session, ordered by createdAt, then id; empty for someone else's. */
  listTunnelsOfSession(userId: string, sessionId: string): Promise<Tunnel[]>;
  /**
   * Stops the session's started tunnels and remembers that the session's stop stopped them, so
   * that {@link restartTunnelsOfSession} starts exactly those again. Tunnels already stopped stay
   * unmarked. Returns the tunnels it stopped (ordered by createdAt, then id); empty for someone
   * else's session.
   */
  stopTunnelsOfSession(userId: string, sessionId: string): Promise<Tunnel[]>;
  /**
   * Starts the session's tunnels that its stop stopped (and that nobody stopped or started on
   * their own since), clearing the mark. Returns them, ordered by createdAt, then id.
   */
  restartTunnelsOfSession(userId: string, sessionId: string): Promise<Tunnel[]>;
  /**
   * @throws StoreConflictError when the user already has a tunnel of that name.
   * @throws StoreNotFoundError when the user does not exist, or `sessionId` is not one of the
   *   user's sessions (another user's session is reported exactly like a missing one).
   */
  createTunnel(t: NewTunnel): Promise<{ tunnel: Tunnel; agentToken: string }>;
  /** The new token; the old one stops working at once. @throws StoreNotFoundError */
  rotateAgentToken(tunnelId: string): Promise<string>;
  /** {@link rotateAgentToken} for the user's own tunnel; null when missing or someone else's. */
  rotateAgentTokenForUser(userId: string, tunnelId: string): Promise<string | null>;
  getTunnel(id: string): Promise<Tunnel | null>;
  /** Null when missing or owned by someone else. */
  getTunnelForUser(userId: string, id: string): Promise<Tunnel | null>;
  getTunnelByName(userId: string, name: string): Promise<Tunnel | null>;
  /** Ordered by createdAt, then id. */
  listTunnels(userId: string): Promise<Tunnel[]>;
  /**
   * Every user's tunnels counted: `stopped` when the tunnel or its session is stopped (their
   * status is `stopped`), `started` the others (running or waiting, by the live state). One
   * aggregate query, for metrics.
   */
  countTunnels(): Promise<TunnelCounts>;
  /**
   * The updated tunnel; null when missing or owned by someone else. A tunnel set by hand is no
   * longer one its session's stop stopped: a session restart leaves it as the user set it.
   */
  setTunnelState(userId: string, id: string, state: TunnelState): Promise<Tunnel | null>;
  /** Also invalidates the tunnel's agent token. False when missing or owned by someone else. */
  deleteTunnel(userId: string, id: string): Promise<boolean>;
  /** The tunnel the token belongs to, whatever its state; null for unknown or malformed tokens. */
  authenticateAgentToken(token: string): Promise<Tunnel | null>;
  /**
   * The stored (still encrypted) upstream API key of a tunnel, for the component that hands it to
   * the agent; null when the tunnel has none or does not exist. Not scoped to a user: callers
   * must have authorised access to the tunnel already.
   */
  getUpstreamKeyCiphertext(tunnelId: string): Promise<string | null>;
  /**
   * A value of the installation shared by every replica (the admin token's digest); null when
   * unset. Names are the constants of {@link SETTING}.
   */
  getSetting(name: string): Promise<string | null>;
  /** Sets a setting, replacing any value. */
  putSetting(name: string, value: string): Promise<void>;
  /** Sets a setting unless it is set already (two replicas starting at once); true when it wrote. */
  putSettingIfAbsent(name: string, value: string): Promise<boolean>;
  /**
   * Adds counted usage to the hourly rows (usage.ts): each delta is summed into the row of its
   * (user, tunnel, model, hour), made when missing; the row keeps the latest tunnel name.
   */
  addUsage(deltas: readonly UsageDelta[]): Promise<void>;
  /** Usage summed per group, largest total first (usage.ts). */
  queryUsage(query: UsageQuery): Promise<UsageSummary[]>;
  close(): Promise<void>;
}

/** A unique name is already taken; the message names it and how to proceed. */
export class StoreConflictError extends Error {
  override readonly name = 'StoreConflictError';
}

/**
 * A row an operation needs (the user of a new key, the session of a new tunnel, the tunnel to
 * rotate) does not exist, or belongs to another user.
 */
export class StoreNotFoundError extends Error {
  override readonly name = 'StoreNotFoundError';
}
