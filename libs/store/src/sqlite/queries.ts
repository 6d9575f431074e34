import type Database from 'better-sqlite3';
import type { Statement } from 'better-sqlite3';
import {
  KEY_COLUMNS, SESSION_COLUMNS, TUNNEL_COLUMNS, USER_COLUMNS, type ApiKeyRow, type SessionRow, type TunnelRow, type UserRow,
} from '../rows';

// Every statement of SqliteStore but the usage ones (sqlite-usage.ts), prepared once per
// connection: parsing SQL on every gateway request would cost more than running it.

/** Named parameters of the tunnel insert (it uses the session and user twice). */
interface TunnelInsert {
  id: string;
  userId: string;
  sessionId: string | null;
  name: string;
  remoteHost: string;
  remotePort: number;
  openai: number;
  state: string;
  tokenDigest: string;
  upstreamKeyCiphertext: string | null;
  createdAt: string;
}

export function prepareStatements(db: Database.Database) {
  const user = <P extends unknown[]>(sql: string): Statement<P, UserRow> => db.prepare<P, UserRow>(sql);
  const session = <P extends unknown[]>(sql: string): Statement<P, SessionRow> => db.prepare<P, SessionRow>(sql);
  const tunnel = <P extends unknown[]>(sql: string): Statement<P, TunnelRow> => db.prepare<P, TunnelRow>(sql);
  return {
    insertUser: db.prepare<[string, string, string]>('INSERT INTO users (id, name, created_at) VALUES (?, ?, ?)'),
    userById: user<[string]>(`SELECT ${USER_COLUMNS} FROM users u WHERE u.id = ?`),
    userByName: user<[string]>(`SELECT ${USER_COLUMNS} FROM users u WHERE u.name = ?`),
    allUsers: user<[]>(`SELECT ${USER_COLUMNS} FROM users u ORDER BY u.created_at, u.id`),
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

    insertSession: db.prepare<[string, string, string, string, string, string]>(
      'INSERT INTO sessions (id, user_id, name, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    sessionById: session<[string]>(`SELECT ${SESSION_COLUMNS} FROM sessions WHERE id = ?`),
    sessionOfUser: session<[string, string]>(`SELECT ${SESSION_COLUMNS} FROM sessions WHERE id = ? AND user_id = ?`),
    sessionsOfUser: session<[string]>(
      `SELECT ${SESSION_COLUMNS} FROM sessions WHERE user_id = ? ORDER BY created_at, id`,
    ),
    setSessionState: session<[string, string, string, string]>(
      `UPDATE sessions SET state = ?, updated_at = ? WHERE id = ? AND user_id = ? RETURNING ${SESSION_COLUMNS}`,
    ),

    // One statement checks and inserts: the session must be the tunnel owner's own (a foreign key
    // alone would accept another user's session). Zero rows inserted means it is not.
    insertTunnel: db.prepare<[TunnelInsert]>(
      `INSERT INTO tunnels (id, user_id, session_id, name, remote_host, remote_port, openai, state,
                            token_digest, upstream_key_ciphertext, created_at)
       SELECT @id, @userId, @sessionId, @name, @remoteHost, @remotePort, @openai, @state,
              @tokenDigest, @upstreamKeyCiphertext, @createdAt
       WHERE @sessionId IS NULL
          OR EXISTS (SELECT 1 FROM sessions s WHERE s.id = @sessionId AND s.user_id = @userId)`,
    ),
    tunnelById: tunnel<[string]>(`SELECT ${TUNNEL_COLUMNS} FROM tunnels WHERE id = ?`),
    tunnelOfUser: tunnel<[string, string]>(`SELECT ${TUNNEL_COLUMNS} FROM tunnels WHERE id = ? AND user_id = ?`),
    tunnelByName: tunnel<[string, string]>(`SELECT ${TUNNEL_COLUMNS} FROM tunnels WHERE user_id = ? AND name = ?`),
    tunnelsOfUser: tunnel<[string]>(`SELECT ${TUNNEL_COLUMNS} FROM tunnels WHERE user_id = ? ORDER BY created_at, id`),
    tunnelsOfSession: tunnel<[string, string]>(
      `SELECT ${TUNNEL_COLUMNS} FROM tunnels WHERE user_id = ? AND session_id = ? ORDER BY created_at, id`,
    ),
    tunnelByTokenDigest: tunnel<[string]>(`SELECT ${TUNNEL_COLUMNS} FROM tunnels WHERE token_digest = ?`),
    setTokenDigest: db.prepare<[string, string]>('UPDATE tunnels SET token_digest = ? WHERE id = ?'),
    setTokenDigestOfUser: db.prepare<[string, string, string]>(
      'UPDATE tunnels SET token_digest = ? WHERE id = ? AND user_id = ?',
    ),
    setTunnelState: tunnel<[string, string, string]>(
      `UPDATE tunnels SET state = ?, stopped_by_session = 0 WHERE id = ? AND user_id = ? RETURNING ${TUNNEL_COLUMNS}`,
    ),
    stopTunnelsOfSession: tunnel<[string, string]>(
      `UPDATE tunnels SET state = 'stopped', stopped_by_session = 1
       WHERE user_id = ? AND session_id = ? AND state = 'started' RETURNING ${TUNNEL_COLUMNS}`,
    ),
    restartTunnelsOfSession: tunnel<[string, string]>(
      `UPDATE tunnels SET state = 'started', stopped_by_session = 0
       WHERE user_id = ? AND session_id = ? AND stopped_by_session = 1 RETURNING ${TUNNEL_COLUMNS}`,
    ),
    deleteTunnel: db.prepare<[string, string]>('DELETE FROM tunnels WHERE id = ? AND user_id = ?'),
    upstreamKeyCiphertext: db
      .prepare<[string], string | null>('SELECT upstream_key_ciphertext FROM tunnels WHERE id = ?')
      .pluck(),
    setting: db.prepare<[string], string>('SELECT value FROM settings WHERE name = ?').pluck(),
    putSetting: db.prepare<[string, string, string]>(
      `INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    ),
    putSettingIfAbsent: db.prepare<[string, string, string]>(
      'INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING',
    ),
  };
}
