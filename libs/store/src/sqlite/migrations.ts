import type { Migration } from '../migration';

export type { Migration } from '../migration';

/**
 * SQLite schema changes, applied in order at open and recorded in `schema_migrations`. Append
 * only: an applied migration must never be edited, since databases in the field already ran it.
 * `postgres/migrations.ts` has the same versions with the same meaning.
 *
 * The SQL sticks to what PostgreSQL also accepts (TEXT/INTEGER columns, named constraints, no
 * AUTOINCREMENT or SQLite date functions; timestamps are ISO 8601 strings written by the
 * application), so the PostgreSQL list repeats it nearly verbatim.
 */
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
  {
    version: 2,
    description: 'sessions; tunnels belong to a session and may hold an encrypted upstream key',
    sql: `
      CREATE TABLE sessions (
        id         TEXT PRIMARY KEY,
        user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name       TEXT NOT NULL,
        state      TEXT NOT NULL CHECK (state IN ('running', 'stopped')),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        -- Also serves listSessions (user_id is its leading column).
        CONSTRAINT sessions_user_id_name UNIQUE (user_id, name)
      );

      -- Nullable: tunnels created before sessions existed belong to none. That the session is
      -- the tunnel owner's own is checked by the insert, which a plain foreign key cannot express.
      ALTER TABLE tunnels ADD COLUMN session_id TEXT REFERENCES sessions (id) ON DELETE CASCADE;
      -- Encrypted by the application; the store never sees the key itself.
      ALTER TABLE tunnels ADD COLUMN upstream_key_ciphertext TEXT;
      -- listTunnelsOfSession, and deleting a session (the cascade looks tunnels up by session).
      CREATE INDEX tunnels_session_id ON tunnels (session_id);
    `,
  },
  {
    version: 3,
    description: 'tunnels remember being stopped by their session; installation settings (admin token digest)',
    sql: `
      -- 1 while the tunnel is stopped because its session was: a session restart starts exactly
      -- those again. Any start or stop by hand clears it.
      ALTER TABLE tunnels ADD COLUMN stopped_by_session INTEGER NOT NULL DEFAULT 0
        CHECK (stopped_by_session IN (0, 1));
      -- Values shared by every replica of an installation (the admin token's digest).
      CREATE TABLE settings (
        name       TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
    `,
  },
  {
    version: 4,
    description: 'token usage per user, tunnel, model and hour',
    sql: `
      -- Written by the gateways in batches (one upsert per row and batch). No foreign keys: usage
      -- outlives a deleted tunnel or user, under its id and the last tunnel name.
      CREATE TABLE usage_hourly (
        user_id           TEXT NOT NULL,
        tunnel_id         TEXT NOT NULL,
        tunnel_name       TEXT NOT NULL,
        model             TEXT NOT NULL,
        -- Start of the hour, ISO 8601 UTC: string order is time order.
        hour              TEXT NOT NULL,
        prompt_tokens     INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        requests          INTEGER NOT NULL,
        -- Also serves a user's queries (user_id leads).
        PRIMARY KEY (user_id, tunnel_id, model, hour)
      );
      -- The admin's queries over every user, by time.
      CREATE INDEX usage_hourly_hour ON usage_hourly (hour);
    `,
  },
];
