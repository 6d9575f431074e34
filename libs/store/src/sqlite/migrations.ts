/**
 * Schema changes, applied in order at open and recorded in `schema_migrations`. Append only: an
 * applied migration must never be edited, since databases in the field already ran it.
 *
 * The SQL sticks to what PostgreSQL also accepts (TEXT/INTEGER columns, named constraints, no
 * AUTOINCREMENT or SQLite date functions; timestamps are ISO 8601 strings written by the
 * application), so a PostgreSQL backend can reuse it nearly verbatim.
 */
export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'users, api_keys, tunnels',
    sql: `
      CREATE TABLE users (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
      );

      CREATE TABLE api_keys (
        id         TEXT PRIMARY KEY,
        user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        digest     TEXT NOT NULL UNIQUE,
        hint       TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT
      );
      -- listApiKeys and revokeAllApiKeys look keys up by owner.
      CREATE INDEX api_keys_user_id ON api_keys (user_id);

      CREATE TABLE tunnels (
        id           TEXT PRIMARY KEY,
        user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name         TEXT NOT NULL,
        remote_host  TEXT NOT NULL,
        remote_port  INTEGER NOT NULL CHECK (remote_port BETWEEN 1 AND 65535),
        openai       INTEGER NOT NULL CHECK (openai IN (0, 1)),
        state        TEXT NOT NULL CHECK (state IN ('started', 'stopped')),
        token_digest TEXT NOT NULL UNIQUE,
        created_at   TEXT NOT NULL,
        -- Also serves listTunnels and getTunnelByName (user_id is its leading column).
        CONSTRAINT tunnels_user_id_name UNIQUE (user_id, name)
      );
    `,
  },
];
