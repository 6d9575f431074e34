import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from '@st/logging';
import { createPrivateFile, ensurePrivateDir, tightenDataDirFiles } from '../private-files';
import { draftApiKey, draftSession, draftTunnel, draftUser, now } from '../drafts';
import { byCreation, toApiKeyInfo, toSession, toTunnel, toUser } from '../rows';
import { COUNT_TUNNELS_SQL, toTunnelCounts, type TunnelCountRow } from '../count-sql';
import { AGENT_TOKEN_PREFIX, API_KEY_PREFIX, digestSecret, generateSecret, isWellFormedSecret } from '../secrets';
import type { ApiKeyInfo, NewTunnel, Session, SessionState, Store, Tunnel, TunnelCounts, TunnelState, User } from '../store';
import type { UsageDelta, UsageQuery, UsageSummary } from '../usage';
import {
  missingSession,
  missingTunnel,
  missingUser,
  sessionNameTaken,
  tunnelNameTaken,
  userNameTaken,
} from '../store-errors';
import { applyMigrations } from './apply-migrations';
import { MIGRATIONS } from './migrations';
import { prepareStatements } from './queries';
import { SqliteUsage } from './sqlite-usage';

/** The database file inside a data directory. */
export const SQLITE_FILE_NAME = 'session-tunnels.db';

export type SqliteStoreOptions = ({ dataDir: string } | { file: string }) & {
  /** Receives one line per applied migration and storage warnings; nothing is logged without it. */
  logger?: Logger;
};

// Another connection (a second process) may hold the write lock briefly; wait rather than fail.
const BUSY_TIMEOUT_MS = 5000;

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
  private readonly usage: SqliteUsage;

  private constructor(db: Database.Database, logger: Logger | undefined) {
    this.db = db;
    for (const version of applyMigrations(db, MIGRATIONS, now)) {
      logger?.info({ version, file: db.name }, 'applied store migration');
    }
    // Prepared once: parsing SQL on every gateway request would cost more than running it.
    this.sql = prepareStatements(db);
    this.usage = new SqliteUsage(db);
  }

  /** Opens (creating if needed) `<dataDir>/session-tunnels.db`, or `file` (`:memory:` for tests). */
  static open(options: SqliteStoreOptions): SqliteStore {
    let file: string;
    if ('dataDir' in options) {
      // 0700 and 0600 whatever the umask: the directory holds credential digests and the tunnel
      // list of every user. An existing 0755 directory or 0644 database is tightened.
      ensurePrivateDir(options.dataDir, options.logger);
      file = join(options.dataDir, SQLITE_FILE_NAME);
      createPrivateFile(file, options.logger);
    } else {
      file = options.file;
      if (file !== ':memory:' && file !== '' && !existsSync(file)) createPrivateFile(file, options.logger);
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
      // The -wal and -shm files now exist; ones left 0644 by an older release are tightened.
      if ('dataDir' in options) tightenDataDirFiles(options.dataDir, options.logger);
      // SQLite leaves foreign keys off by default; ON DELETE CASCADE relies on them.
      db.pragma('foreign_keys = ON');
      return new SqliteStore(db, options.logger);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  async createUser(name: string): Promise<User> {
    const user = draftUser(name);
    try {
      this.sql.insertUser.run(user.id, user.name, user.createdAt);
    } catch (err) {
      if (isSqliteError(err, 'SQLITE_CONSTRAINT_UNIQUE')) throw userNameTaken(name);
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

  async listUsers(): Promise<User[]> {
    return this.sql.allUsers.all().map(toUser);
  }

  async createApiKey(userId: string): Promise<{ info: ApiKeyInfo; apiKey: string }> {
    const { info, apiKey, digest } = draftApiKey(userId);
    try {
      this.sql.insertApiKey.run(info.id, userId, digest, info.hint, info.createdAt);
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

  async createSession(userId: string, name: string): Promise<Session> {
    const s = draftSession(userId, name);
    try {
      this.sql.insertSession.run(s.id, s.userId, s.name, s.state, s.createdAt, s.updatedAt);
    } catch (err) {
      if (isSqliteError(err, 'SQLITE_CONSTRAINT_UNIQUE')) throw sessionNameTaken(userId, name);
      throw this.missingUser(err, userId);
    }
    return s;
  }

  async getSession(id: string): Promise<Session | null> {
    const row = this.sql.sessionById.get(id);
    return row ? toSession(row) : null;
  }

  async getSessionForUser(userId: string, id: string): Promise<Session | null> {
    const row = this.sql.sessionOfUser.get(id, userId);
    return row ? toSession(row) : null;
  }

  async listSessions(userId: string): Promise<Session[]> {
    return this.sql.sessionsOfUser.all(userId).map(toSession);
  }

  async setSessionState(userId: string, id: string, state: SessionState): Promise<Session | null> {
    const row = this.sql.setSessionState.get(state, now(), id, userId);
    return row ? toSession(row) : null;
  }

  async listTunnelsOfSession(userId: string, sessionId: string): Promise<Tunnel[]> {
    return this.sql.tunnelsOfSession.all(userId, sessionId).map(toTunnel);
  }

  async stopTunnelsOfSession(userId: string, sessionId: string): Promise<Tunnel[]> {
    return byCreation(this.sql.stopTunnelsOfSession.all(userId, sessionId).map(toTunnel));
  }

  async restartTunnelsOfSession(userId: string, sessionId: string): Promise<Tunnel[]> {
    return byCreation(this.sql.restartTunnelsOfSession.all(userId, sessionId).map(toTunnel));
  }

  async createTunnel(t: NewTunnel): Promise<{ tunnel: Tunnel; agentToken: string }> {
    const { tunnel, agentToken, tokenDigest, upstreamKeyCiphertext } = draftTunnel(t);
    let inserted: number;
    try {
      inserted = this.sql.insertTunnel.run({
        id: tunnel.id,
        userId: tunnel.userId,
        sessionId: tunnel.sessionId,
        name: tunnel.name,
        remoteHost: tunnel.remoteHost,
        remotePort: tunnel.remotePort,
        openai: tunnel.openai ? 1 : 0,
        state: tunnel.state,
        tokenDigest,
        upstreamKeyCiphertext,
        createdAt: tunnel.createdAt,
      }).changes;
    } catch (err) {
      if (isSqliteError(err, 'SQLITE_CONSTRAINT_UNIQUE')) throw tunnelNameTaken(t.userId, t.name);
      throw this.missingUser(err, t.userId);
    }
    // Nothing inserted: the insert's guard found no session of that id owned by this user.
    if (inserted !== 1) throw missingSession(t.userId, String(t.sessionId));
    return { tunnel, agentToken };
  }

  async rotateAgentToken(tunnelId: string): Promise<string> {
    const agentToken = generateSecret(AGENT_TOKEN_PREFIX);
    // Overwriting the only stored digest is what makes the old token stop working at once.
    if (this.sql.setTokenDigest.run(digestSecret(agentToken), tunnelId).changes !== 1) {
      throw missingTunnel(tunnelId);
    }
    return agentToken;
  }

  async rotateAgentTokenForUser(userId: string, tunnelId: string): Promise<string | null> {
    const agentToken = generateSecret(AGENT_TOKEN_PREFIX);
    if (this.sql.setTokenDigestOfUser.run(digestSecret(agentToken), tunnelId, userId).changes !== 1) return null;
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

  async countTunnels(): Promise<TunnelCounts> {
    return toTunnelCounts(this.db.prepare(COUNT_TUNNELS_SQL).get() as TunnelCountRow);
  }

  async setTunnelState(userId: string, id: string, state: TunnelState): Promise<Tunnel | null> {
    const row = this.sql.setTunnelState.get(state, id, userId);
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

  async getUpstreamKeyCiphertext(tunnelId: string): Promise<string | null> {
    return this.sql.upstreamKeyCiphertext.get(tunnelId) ?? null;
  }

  async getSetting(name: string): Promise<string | null> {
    return this.sql.setting.get(name) ?? null;
  }

  async putSetting(name: string, value: string): Promise<void> {
    this.sql.putSetting.run(name, value, now());
  }

  async putSettingIfAbsent(name: string, value: string): Promise<boolean> {
    return this.sql.putSettingIfAbsent.run(name, value, now()).changes === 1;
  }

  async addUsage(deltas: readonly UsageDelta[]): Promise<void> {
    this.usage.add(deltas);
  }

  async queryUsage(query: UsageQuery): Promise<UsageSummary[]> {
    return this.usage.query(query);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private missingUser(err: unknown, userId: string): unknown {
    return isSqliteError(err, 'SQLITE_CONSTRAINT_FOREIGNKEY') ? missingUser(userId) : err;
  }
}
