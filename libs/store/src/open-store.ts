import type { Logger } from '@st/logging';
import { PostgresStore } from './postgres/postgres-store';
import { SqliteStore } from './sqlite/sqlite-store';
import type { Store } from './store';

export interface OpenStoreOptions {
  /** Where the SQLite file lives when no database URL is given. */
  dataDir: string;
  /**
   * `postgres://…` or `postgresql://…` selects PostgreSQL; unset or empty selects SQLite in
   * `dataDir` (an empty string counts as unset, as an empty environment variable usually means).
   */
  databaseUrl?: string;
  /** PostgreSQL schema; default `public`. Ignored for SQLite. */
  databaseSchema?: string;
  logger?: Logger;
}

const POSTGRES_URL = /^postgres(ql)?:\/\//i;

/** The store the configuration asks for: PostgreSQL when a database URL is set, else SQLite. */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const { databaseUrl, logger } = options;
  if (!databaseUrl) return SqliteStore.open({ dataDir: options.dataDir, logger });
  if (!POSTGRES_URL.test(databaseUrl)) {
    // Falling back to SQLite here would quietly split state between replicas; refuse instead.
    // Only the scheme is shown: the rest may hold a password.
    const scheme = databaseUrl.split(':', 1)[0];
    throw new Error(
      `unsupported database URL scheme "${scheme}:"; use postgres:// or postgresql://, or leave the URL unset for SQLite`,
    );
  }
  return PostgresStore.open({ connectionString: databaseUrl, schema: options.databaseSchema, logger });
}
