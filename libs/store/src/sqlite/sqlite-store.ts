import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database, { type Statement } from 'better-sqlite3';
import type { Logger } from '@st/logging';
import { newId } from '../ids';
import {
  AGENT_TOKEN_PREFIX,
  API_KEY_PREFIX,
  digestSecret,
  generateSecret,
  isWellFormedSecret,
  secretHint,
} from '../secrets';
import {
  StoreConflictError,
  StoreNotFoundError,
  TUNNEL_DEFAULTS,
  type ApiKeyInfo,
  type NewTunnel,
  type Store,
  type Tunnel,
  type TunnelState,
  type User,
} from '../store';
import { applyMigrations } from './apply-migrations';
import { MIGRATIONS } from './migrations';

/** The database file inside a data directory. */
export const SQLITE_FILE_NAME = 'session-tunnels.db';

export type SqliteStoreOptions = ({ dataDir: string } | { file: string }) & {
  /** Receives one line per applied migration and storage warnings; nothing is logged without it. */
  logger?: Logger;
};

interface UserRow {
  id: string;
  name: string;
  created_at: string;
}

interface ApiKeyRow {
  id: string;
  user_id: string;
  hint: string;
  created_at: string;
}

interface TunnelRow {
  id: string;
  user_id: string;
  name: string;
  remote_host: string;
  remote_port: number;
  openai: number;
  state: string;
  created_at: string;
}

const USER_COLUMNS = 'u.id, u.name, u.created_at';
const KEY_COLUMNS = 'id, user_id, hint, created_at';
// token_digest is left out on purpose: nothing above the store has any use for it.
const TUNNEL_COLUMNS = 'id, user_id, name, remote_host, remote_port, openai, state, created_at';

// Another connection (a second process) may hold the write lock briefly; wait rather than fail.
const BUSY_TIMEOUT_MS = 5000;

const now = (): string => new Date().toISOString();

function toUser(row: UserRow): User {
  return { id: row.id, name: row.name, createdAt: row.created_at };
}

function toApiKeyInfo(row: ApiKeyRow): ApiKeyInfo {
  return { id: row.id, userId: row.user_id, hint: row.hint, createdAt: row.created_at };
}

function toTunnel(row: TunnelRow): Tunnel {
  return {
    id: row.id,
    userId: row.user_id,
    name: row.name,
    remoteHost: row.remote_host,
    remotePort: row.remote_port,
    openai: row.openai === 1,
    state: row.state as TunnelState,
    createdAt: row.created_at,
  };
}

function isSqliteError(err: unknown, code: string): boolean {
  return err instanceof Database.SqliteError && err.code === code;
}

/**
 * The embedded default {@link Store}: one SQLite file, shared safely by several processes through
 * WAL. better-sqlite3 is synchronous, so each method does its work before returning its promise;
 * queries are index lookups of microseconds, cheaper than handing them to a worker thread.
 */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly sql: ReturnType<typeof prepareStatements>;

  private constructor(db: Database.Database, logger: Logger | undefined) {
    this.db = db;
    for (const version of applyMigrations(db, MIGRATIONS, now)) {
      logger?.info({ version, file: db.name }, 'applied store migration');
    }
    // Prepared once: parsing SQL on every gateway request would cost more than running it.
    this.sql = prepareStatements(db);
  }

  /** Opens (creating if needed) `<dataDir>/session-tunnels.db`, or `file` (`:memory:` for tests). */
  static open(options: SqliteStoreOptions): SqliteStore {
    let file: string;
    if ('dataDir' in options) {
      // 0700: the directory holds credential digests and the tunnel list of every user.
      mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
      file = join(options.dataDir, SQLITE_FILE_NAME);
    } else {
      file = options.file;
    }
    const db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
    try {
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      // WAL lets readers (every request) proceed while a writer commits; NORMAL skips an fsync per
      // commit, which in WAL mode can lose the last commits on power loss but never corrupts.
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal' && !db.memory) {
        options.logger?.warn({ file, journalMode: mode }, 'store could not enable WAL; concurrent access will be slower');
      }
      db.pragma('synchronous = NORMAL');
      // SQLite leaves foreign keys off by default; ON DELETE CASCADE relies on them.
      db.pragma('foreign_keys = ON');
      return new SqliteStore(db, options.logger);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  async createUser(name: string): Promise<User> {
    const user: User = { id: newId('u'), name, createdAt: now() };
    try {
      this.sql.insertUser.run(user.id, user.name, user.createdAt);
    } catch (err) {
      if (isSqliteError(err, 'SQLITE_CONSTRAINT_UNIQUE')) {
        throw new StoreConflictError(
          `a user named "${name}" already exists; choose another name or use the existing user`,
        );
      }
      throw err;
    }
    return user;
  }

  async getUser(id: string): Promise<User | null> {
    const row = this.sql.userById.get(id);
    return row ? toUser(row) : null;
  }

  async getUserByName(name: string): Promise<User | null> {
    const row = this.sql.userByName.get(name);
    return row ? toUser(row) : null;
  }

  async createApiKey(userId: string): Promise<{ info: ApiKeyInfo; apiKey: string }> {
    const apiKey = generateSecret(API_KEY_PREFIX);
    const info: ApiKeyInfo = { id: newId('k'), userId, hint: secretHint(apiKey), createdAt: now() };
    try {
      this.sql.insertApiKey.run(info.id, userId, digestSecret(apiKey), info.hint, info.createdAt);
    } catch (err) {
      throw this.missingUser(err, userId);
    }
    return { info, apiKey };
  }

  async listApiKeys(userId: string): Promise<ApiKeyInfo[]> {
    return this.sql.activeKeysOfUser.all(userId).map(toApiKeyInfo);
  }

  async revokeApiKey(userId: string, keyId: string): Promise<boolean> {
    return this.sql.revokeKey.run(now(), keyId, userId).changes === 1;
  }

  async revokeAllApiKeys(userId: string): Promise<number> {
    return this.sql.revokeAllKeys.run(now(), userId).changes;
  }

  async authenticateApiKey(apiKey: string): Promise<User | null> {
    if (!isWellFormedSecret(apiKey, API_KEY_PREFIX)) return null;
    // Looking up a digest through an index leaks no useful timing: an attacker cannot steer the
    // digest of a guess towards a stored one.
    const row = this.sql.userByKeyDigest.get(digestSecret(apiKey));
    return row ? toUser(row) : null;
  }

  async createTunnel(t: NewTunnel): Promise<{ tunnel: Tunnel; agentToken: string }> {
    const agentToken = generateSecret(AGENT_TOKEN_PREFIX);
    const tunnel: Tunnel = {
      id: newId('t'),
      userId: t.userId,
      name: t.name,
      remoteHost: t.remoteHost ?? TUNNEL_DEFAULTS.remoteHost,
      remotePort: t.remotePort ?? TUNNEL_DEFAULTS.remotePort,
      openai: t.openai ?? TUNNEL_DEFAULTS.openai,
      state: TUNNEL_DEFAULTS.state,
      createdAt: now(),
    };
    try {
      this.sql.insertTunnel.run(
        tunnel.id,
        tunnel.userId,
        tunnel.name,
        tunnel.remoteHost,
        tunnel.remotePort,
        tunnel.openai ? 1 : 0,
        tunnel.state,
        digestSecret(agentToken),
        tunnel.createdAt,
      );
    } catch (err) {
      if (isSqliteError(err, 'SQLITE_CONSTRAINT_UNIQUE')) {
        throw new StoreConflictError(
          `user ${t.userId} already has a tunnel named "${t.name}"; choose another name, or delete the existing tunnel first`,
        );
      }
      throw this.missingUser(err, t.userId);
    }
    return { tunnel, agentToken };
  }

  async rotateAgentToken(tunnelId: string): Promise<string> {
    const agentToken = generateSecret(AGENT_TOKEN_PREFIX);
    // Overwriting the only stored digest is what makes the old token stop working at once.
    if (this.sql.setTokenDigest.run(digestSecret(agentToken), tunnelId).changes !== 1) {
      throw new StoreNotFoundError(`no tunnel ${tunnelId}; list tunnels to find its id`);
    }
    return agentToken;
  }

  async getTunnel(id: string): Promise<Tunnel | null> {
    const row = this.sql.tunnelById.get(id);
    return row ? toTunnel(row) : null;
  }

  async getTunnelForUser(userId: string, id: string): Promise<Tunnel | null> {
    const row = this.sql.tunnelOfUser.get(id, userId);
    return row ? toTunnel(row) : null;
  }

  async getTunnelByName(userId: string, name: string): Promise<Tunnel | null> {
    const row = this.sql.tunnelByName.get(userId, name);
    return row ? toTunnel(row) : null;
  }

  async listTunnels(userId: string): Promise<Tunnel[]> {
    return this.sql.tunnelsOfUser.all(userId).map(toTunnel);
  }

  async setTunnelState(userId: string, id: string, state: TunnelState): Promise<Tunnel | null> {
    const row = this.sql.setState.get(state, id, userId);
    return row ? toTunnel(row) : null;
  }

  async deleteTunnel(userId: string, id: string): Promise<boolean> {
    return this.sql.deleteTunnel.run(id, userId).changes === 1;
  }

  async authenticateAgentToken(token: string): Promise<Tunnel | null> {
    if (!isWellFormedSecret(token, AGENT_TOKEN_PREFIX)) return null;
    const row = this.sql.tunnelByTokenDigest.get(digestSecret(token));
    return row ? toTunnel(row) : null;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private missingUser(err: unknown, userId: string): unknown {
    if (isSqliteError(err, 'SQLITE_CONSTRAINT_FOREIGNKEY')) {
      return new StoreNotFoundError(`no user ${userId}; create the user first`);
    }
    return err;
  }
}

function prepareStatements(db: Database.Database) {
  const user = <P extends unknown[]>(sql: string): Statement<P, UserRow> => db.prepare<P, UserRow>(sql);
  const tunnel = <P extends unknown[]>(sql: string): Statement<P, TunnelRow> => db.prepare<P, TunnelRow>(sql);
  return {
    insertUser: db.prepare<[string, string, string]>('INSERT INTO users (id, name, created_at) VALUES (?, ?, ?)'),
    userById: user<[string]>(`SELECT ${USER_COLUMNS} FROM users u WHERE u.id = ?`),
    userByName: user<[string]>(`SELECT ${USER_COLUMNS} FROM users u WHERE u.name = ?`),
    userByKeyDigest: user<[string]>(
      `SELECT ${USER_COLUMNS} FROM api_keys k JOIN users u ON u.id = k.user_id
       WHERE k.digest = ? AND k.revoked_at IS NULL`,
    ),

    insertApiKey: db.prepare<[string, string, string, string, string]>(
      'INSERT INTO api_keys (id, user_id, digest, hint, created_at) VALUES (?, ?, ?, ?, ?)',
    ),
    activeKeysOfUser: db.prepare<[string], ApiKeyRow>(
      `SELECT ${KEY_COLUMNS} FROM api_keys WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at, id`,
    ),
    revokeKey: db.prepare<[string, string, string]>(
      'UPDATE api_keys SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL',
    ),
    revokeAllKeys: db.prepare<[string, string]>(
      'UPDATE api_keys SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL',
    ),

    insertTunnel: db.prepare<[string, string, string, string, number, number, string, string, string]>(
      `INSERT INTO tunnels (id, user_id, name, remote_host, remote_port, openai, state, token_digest, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    tunnelById: tunnel<[string]>(`SELECT ${TUNNEL_COLUMNS} FROM tunnels WHERE id = ?`),
    tunnelOfUser: tunnel<[string, string]>(`SELECT ${TUNNEL_COLUMNS} FROM tunnels WHERE id = ? AND user_id = ?`),
    tunnelByName: tunnel<[string, string]>(`SELECT ${TUNNEL_COLUMNS} FROM tunnels WHERE user_id = ? AND name = ?`),
    tunnelsOfUser: tunnel<[string]>(`SELECT ${TUNNEL_COLUMNS} FROM tunnels WHERE user_id = ? ORDER BY created_at, id`),
    tunnelByTokenDigest: tunnel<[string]>(`SELECT ${TUNNEL_COLUMNS} FROM tunnels WHERE token_digest = ?`),
    setTokenDigest: db.prepare<[string, string]>('UPDATE tunnels SET token_digest = ? WHERE id = ?'),
    setState: tunnel<[string, string, string]>(
      `UPDATE tunnels SET state = ? WHERE id = ? AND user_id = ? RETURNING ${TUNNEL_COLUMNS}`,
    ),
    deleteTunnel: db.prepare<[string, string]>('DELETE FROM tunnels WHERE id = ? AND user_id = ?'),
  };
}
