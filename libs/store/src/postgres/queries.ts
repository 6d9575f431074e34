import { COUNT_TUNNELS_SQL } from '../count-sql';
import { KEY_COLUMNS, SESSION_COLUMNS, TUNNEL_COLUMNS, USER_COLUMNS } from '../rows';

// Every statement of PostgresStore, all parameterised. Unqualified table names resolve through
// the connection's search_path, which the pool pins to the store's schema.
//
// ORDER BY uses the "C" collation: byte order, like SQLite's, whatever collation the database
// was created with, so both backends list in the same order.
const BY_CREATION = 'ORDER BY created_at COLLATE "C", id COLLATE "C"';

export const SQL = {
  insertUser: 'INSERT INTO users (id, name, created_at) VALUES ($1, $2, $3)',
  userById: `SELECT ${USER_COLUMNS} FROM users u WHERE u.id = $1`,
  userByName: `SELECT ${USER_COLUMNS} FROM users u WHERE u.name = $1`,
  allUsers: `SELECT ${USER_COLUMNS} FROM users u ORDER BY u.created_at COLLATE "C", u.id COLLATE "C"`,
  userByKeyDigest: `SELECT ${USER_COLUMNS} FROM api_keys k JOIN users u ON u.id = k.user_id
                    WHERE k.digest = $1 AND k.revoked_at IS NULL`,

  insertApiKey: 'INSERT INTO api_keys (id, user_id, digest, hint, created_at) VALUES ($1, $2, $3, $4, $5)',
  activeKeysOfUser: `SELECT ${KEY_COLUMNS} FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL ${BY_CREATION}`,
  revokeKey: 'UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL',
  revokeAllKeys: 'UPDATE api_keys SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL',

  insertSession:
    'INSERT INTO sessions (id, user_id, name, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)',
  sessionById: `SELECT ${SESSION_COLUMNS} FROM sessions WHERE id = $1`,
  sessionOfUser: `SELECT ${SESSION_COLUMNS} FROM sessions WHERE id = $1 AND user_id = $2`,
  sessionsOfUser: `SELECT ${SESSION_COLUMNS} FROM sessions WHERE user_id = $1 ${BY_CREATION}`,
  setSessionState: `UPDATE sessions SET state = $1, updated_at = $2 WHERE id = $3 AND user_id = $4
                    RETURNING ${SESSION_COLUMNS}`,

  // One statement checks and inserts: the session must be the tunnel owner's own (a foreign key
  // alone would accept another user's session). Zero rows inserted means it is not. The casts
  // give the SELECT list the column types, which PostgreSQL does not infer through INSERT…SELECT.
  insertTunnel: `INSERT INTO tunnels (id, user_id, session_id, name, remote_host, remote_port, openai, state,
                                      token_digest, upstream_key_ciphertext, created_at)
                 SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::integer, $7::integer, $8::text,
                        $9::text, $10::text, $11::text
                 WHERE $3::text IS NULL
                    OR EXISTS (SELECT 1 FROM sessions s WHERE s.id = $3::text AND s.user_id = $2::text)`,
  tunnelById: `SELECT ${TUNNEL_COLUMNS} FROM tunnels WHERE id = $1`,
  tunnelOfUser: `SELECT ${TUNNEL_COLUMNS} FROM tunnels WHERE id = $1 AND user_id = $2`,
  tunnelByName: `SELECT ${TUNNEL_COLUMNS} FROM tunnels WHERE user_id = $1 AND name = $2`,
  tunnelsOfUser: `SELECT ${TUNNEL_COLUMNS} FROM tunnels WHERE user_id = $1 ${BY_CREATION}`,
  countTunnels: COUNT_TUNNELS_SQL,
  tunnelsOfSession: `SELECT ${TUNNEL_COLUMNS} FROM tunnels WHERE user_id = $1 AND session_id = $2 ${BY_CREATION}`,
  tunnelByTokenDigest: `SELECT ${TUNNEL_COLUMNS} FROM tunnels WHERE token_digest = $1`,
  setTokenDigest: 'UPDATE tunnels SET token_digest = $1 WHERE id = $2',
  setTokenDigestOfUser: 'UPDATE tunnels SET token_digest = $1 WHERE id = $2 AND user_id = $3',
  setTunnelState: `UPDATE tunnels SET state = $1, stopped_by_session = 0 WHERE id = $2 AND user_id = $3
                   RETURNING ${TUNNEL_COLUMNS}`,
  stopTunnelsOfSession: `UPDATE tunnels SET state = 'stopped', stopped_by_session = 1
                         WHERE user_id = $1 AND session_id = $2 AND state = 'started' RETURNING ${TUNNEL_COLUMNS}`,
  restartTunnelsOfSession: `UPDATE tunnels SET state = 'started', stopped_by_session = 0
                            WHERE user_id = $1 AND session_id = $2 AND stopped_by_session = 1 RETURNING ${TUNNEL_COLUMNS}`,
  deleteTunnel: 'DELETE FROM tunnels WHERE id = $1 AND user_id = $2',
  upstreamKeyCiphertext: 'SELECT upstream_key_ciphertext FROM tunnels WHERE id = $1',
  setting: 'SELECT value FROM settings WHERE name = $1',
  putSetting: `INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3)
               ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
  putSettingIfAbsent: 'INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING',
} as const;
