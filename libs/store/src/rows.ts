import type { ApiKeyInfo, Session, SessionState, Tunnel, TunnelState, User } from './store';

// Rows as both backends return them. Column names are the SQL ones; the SQL selects exactly these.

export interface UserRow {
  id: string;
  name: string;
  created_at: string;
}

export interface ApiKeyRow {
  id: string;
  user_id: string;
  hint: string;
  created_at: string;
}

export interface SessionRow {
  id: string;
  user_id: string;
  name: string;
  state: string;
  created_at: string;
  updated_at: string;
}

export interface TunnelRow {
  id: string;
  user_id: string;
  session_id: string | null;
  name: string;
  remote_host: string;
  remote_port: number;
  /** 0/1: the column is an INTEGER in both backends. */
  openai: number;
  state: string;
  /** SQLite answers `x IS NOT NULL` with 0/1, PostgreSQL with a boolean. */
  has_upstream_key: number | boolean;
  created_at: string;
}

export const USER_COLUMNS = 'u.id, u.name, u.created_at';
export const KEY_COLUMNS = 'id, user_id, hint, created_at';
export const SESSION_COLUMNS = 'id, user_id, name, state, created_at, updated_at';
// token_digest and the upstream key are left out on purpose: normal reads have no use for them,
// and a secret that is never selected cannot leak through a log line or an API response.
export const TUNNEL_COLUMNS =
  'id, user_id, session_id, name, remote_host, remote_port, openai, state, ' +
  'upstream_key_ciphertext IS NOT NULL AS has_upstream_key, created_at';

export function toUser(row: UserRow): User {
  return { id: row.id, name: row.name, createdAt: row.created_at };
}

export function toApiKeyInfo(row: ApiKeyRow): ApiKeyInfo {
  return { id: row.id, userId: row.user_id, hint: row.hint, createdAt: row.created_at };
}

export function toSession(row: SessionRow): Session {
  return {
    id: row.id,
    userId: row.user_id,
    name: row.name,
    state: row.state as SessionState,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toTunnel(row: TunnelRow): Tunnel {
  return {
    id: row.id,
    userId: row.user_id,
    name: row.name,
    remoteHost: row.remote_host,
    remotePort: row.remote_port,
    openai: row.openai === 1,
    state: row.state as TunnelState,
    sessionId: row.session_id,
    hasUpstreamKey: Boolean(row.has_upstream_key),
    createdAt: row.created_at,
  };
}

/** Lists' order in both backends (createdAt, then id, byte order): UPDATE … RETURNING has none. */
export function byCreation<T extends { createdAt: string; id: string }>(items: T[]): T[] {
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return items.sort((a, b) => cmp(a.createdAt, b.createdAt) || cmp(a.id, b.id));
}
