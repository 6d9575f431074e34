import type { Pool } from 'pg';
import { newerSchemaError, newestKnownVersion, type Migration } from '../migration';
import { checkSchemaName, migrationLockKey } from './connection';

/**
 * Creates `schema` if needed, brings it up to date and returns the versions applied now, all in
 * one transaction. The transaction first takes an advisory lock for the schema: when two
 * processes start at once, the second waits at the lock until the first commits, then finds
 * nothing left to do (DDL is transactional in PostgreSQL, so a failed migration leaves nothing
 * half-applied). The pool's connections must already have `search_path` set to `schema`.
 */
export async function applyPgMigrations(
  pool: Pool,
  schema: string,
  migrations: readonly Migration[],
  now: () => string,
): Promise<number[]> {
  const known = newestKnownVersion(migrations);
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [migrationLockKey(schema)]);
    // Looked up first rather than CREATE SCHEMA IF NOT EXISTS: that needs the CREATE privilege
    // on the database even when the schema exists, which a deployment's role may rightly lack.
    const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (exists.rowCount === 0) {
      // An identifier cannot be a parameter; checkSchemaName allows only [a-z0-9_].
      await client.query(`CREATE SCHEMA "${checkSchemaName(schema)}"`);
    }
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)',
    );
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    const applied = new Set(rows.map((r) => r.version));
    const newest = Math.max(0, ...applied);
    if (newest > known) throw newerSchemaError(newest, known);

    const appliedNow: number[] = [];
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      // No parameters: sent as a simple query, which may hold several statements.
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [m.version, now()]);
      appliedNow.push(m.version);
    }
    await client.query('COMMIT');
    return appliedNow;
  } catch (err) {
    // The original error matters more than a failed rollback (e.g. on a dropped connection);
    // a connection that cannot roll back is discarded rather than returned to the pool.
    await client.query('ROLLBACK').catch((rollbackErr: Error) => {
      broken = rollbackErr;
    });
    throw err;
  } finally {
    client.release(broken);
  }
}
