import { DatabaseError, Pool, type QueryResultRow } from 'pg';
import type { Logger } from '@st/logging';
import { draftApiKey, draftSession, draftTunnel, draftUser, now } from '../drafts';
import {
  byCreation,
  toApiKeyInfo,
  toSession,
  toTunnel,
  toUser,
  type ApiKeyRow,
  type SessionRow,
  type TunnelRow,
} from '../rows';
import { AGENT_TOKEN_PREFIX, API_KEY_PREFIX, digestSecret, generateSecret, isWellFormedSecret } from '../secrets';
import type { ApiKeyInfo, NewTunnel, Session, SessionState, Store, Tunnel, TunnelCounts, TunnelState, User } from '../store';
import {
  missingSession,
  missingTunnel,
  missingUser,
  sessionNameTaken,
  tunnelNameTaken,
  userNameTaken,
} from '../store-errors';
import { applyPgMigrations } from './apply-migrations';
import { DEFAULT_SCHEMA, checkSchemaName, redactConnectionString, withSearchPath } from './connection';
import { PG_MIGRATIONS } from './migrations';
import { SQL } from './queries';
import { toTunnelCounts, type TunnelCountRow } from '../count-sql';
import type { UsageDelta, UsageQuery, UsageSummary } from '../usage';
import { PG_ADD_USAGE, type UsageResultRow, mergeDeltas, pgUsageColumns, toUsageSummary, usageQuerySql } from '../usage-sql';

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`; any node-postgres connection string. */
  connectionString: string;
  /**
   * Schema holding the tables, created if missing; default `public`. Lets several deployments
   * (or test runs) share one database without seeing each other's rows.
   */
  schema?: string;
  /** Receives one line per applied migration and pool errors; nothing is logged without it. */
  logger?: Logger;
  /** Most connections held open at once; default 10. */
  poolSize?: number;
}

const DEFAULT_POOL_SIZE = 10;
// Without a limit, node-postgres waits forever for a connection to an unreachable server.
const CONNECT_TIMEOUT_MS = 10_000;

// SQLSTATE codes: https://www.postgresql.org/docs/current/errcodes-appendix.html
const UNIQUE_VIOLATION = '23505';
const FOREIGN_KEY_VIOLATION = '23503';

function isPgError(err: unknown, code: string): err is DatabaseError {
  return err instanceof DatabaseError && err.code === code;
}

/**
 * The {@link Store} on PostgreSQL, for deployments running several control-plane replicas or
 * wanting managed backups. Behaves exactly like SqliteStore (the same contract suite runs
 * against both); every statement is parameterised and single-statement, so it needs no explicit
 * transactions beyond the migrations.
 */
export class PostgresStore implements Store {
  private closed = false;

  private constructor(private readonly pool: Pool) {}

  /** Connects, creates the schema if needed and applies pending migrations. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const schema = checkSchemaName(options.schema ?? DEFAULT_SCHEMA);
    const pool = new Pool({
      ...withSearchPath(options.connectionString, schema),
      max: options.poolSize ?? DEFAULT_POOL_SIZE,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    });
    // An idle connection dropped by the server (restart, failover) is reported here; unhandled,
    // it would crash the process. The pool replaces the connection on the next query.
    pool.on('error', (err) => options.logger?.warn({ err, schema }, 'store lost an idle PostgreSQL connection'));
    try {
      for (const version of await applyPgMigrations(pool, schema, PG_MIGRATIONS, now)) {
        options.logger?.info({ version, schema }, 'applied store migration');
      }
    } catch (err) {
      await pool.end().catch(() => undefined);
      const where = `${redactConnectionString(options.connectionString)} (schema ${schema})`;
      throw new Error(`could not open the PostgreSQL store at ${where}: ${(err as Error).message}`, { cause: err });
    }
    return new PostgresStore(pool);
  }

  async createUser(name: string): Promise<User> {
    const user = draftUser(name);
    try {
      await this.run(SQL.insertUser, [user.id, user.name, user.createdAt]);
    } catch (err) {
      if (isPgError(err, UNIQUE_VIOLATION)) throw userNameTaken(name);
      throw err;
    }
    return user;
  }

  async getUser(id: string): Promise<User | null> {
    return this.one(SQL.userById, [id], toUser);
  }

  async getUserByName(name: string): Promise<User | null> {
    return this.one(SQL.userByName, [name], toUser);
  }

  async listUsers(): Promise<User[]> {
    return this.all(SQL.allUsers, [], toUser);
  }

  async createApiKey(userId: string): Promise<{ info: ApiKeyInfo; apiKey: string }> {
    const { info, apiKey, digest } = draftApiKey(userId);
    try {
      await this.run(SQL.insertApiKey, [info.id, userId, digest, info.hint, info.createdAt]);
    } catch (err) {
      throw this.missingUser(err, userId);
    }
    return { info, apiKey };
  }

  async listApiKeys(userId: string): Promise<ApiKeyInfo[]> {
    return this.all<ApiKeyRow, ApiKeyInfo>(SQL.activeKeysOfUser, [userId], toApiKeyInfo);
  }

  async revokeApiKey(userId: string, keyId: string): Promise<boolean> {
    return (await this.run(SQL.revokeKey, [now(), keyId, userId])) === 1;
  }

  async revokeAllApiKeys(userId: string): Promise<number> {
    return this.run(SQL.revokeAllKeys, [now(), userId]);
  }

  async authenticateApiKey(apiKey: string): Promise<User | null> {
    if (!isWellFormedSecret(apiKey, API_KEY_PREFIX)) return null;
    // As in SqliteStore: an indexed digest lookup leaks no timing an attacker could use.
    return this.one(SQL.userByKeyDigest, [digestSecret(apiKey)], toUser);
  }

  async createSession(userId: string, name: string): Promise<Session> {
    const s = draftSession(userId, name);
    try {
      await this.run(SQL.insertSession, [s.id, s.userId, s.name, s.state, s.createdAt, s.updatedAt]);
    } catch (err) {
      if (isPgError(err, UNIQUE_VIOLATION)) throw sessionNameTaken(userId, name);
      throw this.missingUser(err, userId);
    }
    return s;
  }

  async getSession(id: string): Promise<Session | null> {
    return this.one<SessionRow, Session>(SQL.sessionById, [id], toSession);
  }

  async getSessionForUser(userId: string, id: string): Promise<Session | null> {
    return this.one<SessionRow, Session>(SQL.sessionOfUser, [id, userId], toSession);
  }

  async listSessions(userId: string): Promise<Session[]> {
    return this.all<SessionRow, Session>(SQL.sessionsOfUser, [userId], toSession);
  }

  async setSessionState(userId: string, id: string, state: SessionState): Promise<Session | null> {
    return this.one<SessionRow, Session>(SQL.setSessionState, [state, now(), id, userId], toSession);
  }

  async listTunnelsOfSession(userId: string, sessionId: string): Promise<Tunnel[]> {
    return this.all<TunnelRow, Tunnel>(SQL.tunnelsOfSession, [userId, sessionId], toTunnel);
  }

  async stopTunnelsOfSession(userId: string, sessionId: string): Promise<Tunnel[]> {
    return byCreation(await this.all<TunnelRow, Tunnel>(SQL.stopTunnelsOfSession, [userId, sessionId], toTunnel));
  }

  async restartTunnelsOfSession(userId: string, sessionId: string): Promise<Tunnel[]> {
    return byCreation(await this.all<TunnelRow, Tunnel>(SQL.restartTunnelsOfSession, [userId, sessionId], toTunnel));
  }

  async createTunnel(t: NewTunnel): Promise<{ tunnel: Tunnel; agentToken: string }> {
    const { tunnel, agentToken, tokenDigest, upstreamKeyCiphertext } = draftTunnel(t);
    let inserted: number;
    try {
      inserted = await this.run(SQL.insertTunnel, [
        tunnel.id,
        tunnel.userId,
        tunnel.sessionId,
        tunnel.name,
        tunnel.remoteHost,
        tunnel.remotePort,
        tunnel.openai ? 1 : 0,
        tunnel.state,
        tokenDigest,
        upstreamKeyCiphertext,
        tunnel.createdAt,
      ]);
    } catch (err) {
      if (isPgError(err, UNIQUE_VIOLATION)) throw tunnelNameTaken(t.userId, t.name);
      // The session may also vanish between the guard and the insert; that is a missing session.
      if (isPgError(err, FOREIGN_KEY_VIOLATION) && err.constraint === 'tunnels_session_id_fkey') {
        throw missingSession(t.userId, String(t.sessionId));
      }
      throw this.missingUser(err, t.userId);
    }
    // Nothing inserted: the insert's guard found no session of that id owned by this user.
    if (inserted !== 1) throw missingSession(t.userId, String(t.sessionId));
    return { tunnel, agentToken };
  }

  async rotateAgentToken(tunnelId: string): Promise<string> {
    const agentToken = generateSecret(AGENT_TOKEN_PREFIX);
    // Overwriting the only stored digest is what makes the old token stop working at once.
    if ((await this.run(SQL.setTokenDigest, [digestSecret(agentToken), tunnelId])) !== 1) {
      throw missingTunnel(tunnelId);
    }
    return agentToken;
  }

  async rotateAgentTokenForUser(userId: string, tunnelId: string): Promise<string | null> {
    const agentToken = generateSecret(AGENT_TOKEN_PREFIX);
    if ((await this.run(SQL.setTokenDigestOfUser, [digestSecret(agentToken), tunnelId, userId])) !== 1) return null;
    return agentToken;
  }

  async getTunnel(id: string): Promise<Tunnel | null> {
    return this.one<TunnelRow, Tunnel>(SQL.tunnelById, [id], toTunnel);
  }

  async getTunnelForUser(userId: string, id: string): Promise<Tunnel | null> {
    return this.one<TunnelRow, Tunnel>(SQL.tunnelOfUser, [id, userId], toTunnel);
  }

  async getTunnelByName(userId: string, name: string): Promise<Tunnel | null> {
    return this.one<TunnelRow, Tunnel>(SQL.tunnelByName, [userId, name], toTunnel);
  }

  async listTunnels(userId: string): Promise<Tunnel[]> {
    return this.all<TunnelRow, Tunnel>(SQL.tunnelsOfUser, [userId], toTunnel);
  }

  async countTunnels(): Promise<TunnelCounts> {
    const { rows } = await this.pool.query<TunnelCountRow>(SQL.countTunnels);
    return toTunnelCounts(rows[0]);
  }

  async setTunnelState(userId: string, id: string, state: TunnelState): Promise<Tunnel | null> {
    return this.one<TunnelRow, Tunnel>(SQL.setTunnelState, [state, id, userId], toTunnel);
  }

  async deleteTunnel(userId: string, id: string): Promise<boolean> {
    return (await this.run(SQL.deleteTunnel, [id, userId])) === 1;
  }

  async authenticateAgentToken(token: string): Promise<Tunnel | null> {
    if (!isWellFormedSecret(token, AGENT_TOKEN_PREFIX)) return null;
    return this.one<TunnelRow, Tunnel>(SQL.tunnelByTokenDigest, [digestSecret(token)], toTunnel);
  }

  async getUpstreamKeyCiphertext(tunnelId: string): Promise<string | null> {
    const row = await this.one(SQL.upstreamKeyCiphertext, [tunnelId], (r: { upstream_key_ciphertext: string | null }) => r);
    return row?.upstream_key_ciphertext ?? null;
  }

  async getSetting(name: string): Promise<string | null> {
    const row = await this.one(SQL.setting, [name], (r: { value: string }) => r);
    return row?.value ?? null;
  }

  async putSetting(name: string, value: string): Promise<void> {
    await this.run(SQL.putSetting, [name, value, now()]);
  }

  async putSettingIfAbsent(name: string, value: string): Promise<boolean> {
    return (await this.run(SQL.putSettingIfAbsent, [name, value, now()])) === 1;
  }

  async addUsage(deltas: readonly UsageDelta[]): Promise<void> {
    if (deltas.length > 0) await this.run(PG_ADD_USAGE, pgUsageColumns(mergeDeltas(deltas)));
  }

  async queryUsage(query: UsageQuery): Promise<UsageSummary[]> {
    const { sql, params } = usageQuerySql('postgres', query);
    return this.all(sql, params, (row: UsageResultRow) => toUsageSummary(row));
  }

  async close(): Promise<void> {
    // Pool.end() rejects a second call; closing twice is harmless for the other backend too.
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  /** Runs a statement and returns how many rows it changed. */
  private async run(sql: string, params: unknown[]): Promise<number> {
    return (await this.pool.query(sql, params)).rowCount ?? 0;
  }

  private async one<R extends QueryResultRow, T>(sql: string, params: unknown[], map: (row: R) => T): Promise<T | null> {
    const { rows } = await this.pool.query<R>(sql, params);
    return rows.length > 0 ? map(rows[0]) : null;
  }

  private async all<R extends QueryResultRow, T>(sql: string, params: unknown[], map: (row: R) => T): Promise<T[]> {
    const { rows } = await this.pool.query<R>(sql, params);
    return rows.map(map);
  }

  private missingUser(err: unknown, userId: string): unknown {
    return isPgError(err, FOREIGN_KEY_VIOLATION) ? missingUser(userId) : err;
  }
}
