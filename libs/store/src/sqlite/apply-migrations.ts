import type { Database } from 'better-sqlite3';
import { newerSchemaError, newestKnownVersion, type Migration } from '../migration';

/**
 * Brings the schema up to date and returns the versions applied now. Runs in one IMMEDIATE
 * transaction: when two processes open the same file at once, the second waits for the first
 * (busy_timeout) and then finds nothing left to do, instead of both creating the same tables.
 */
export function applyMigrations(db: Database, migrations: readonly Migration[], now: () => string): number[] {
  const known = newestKnownVersion(migrations);

  const migrate = db.transaction((): number[] => {
    db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
    const applied = new Set(db.prepare<[], number>('SELECT version FROM schema_migrations').pluck().all());
    const newest = Math.max(0, ...applied);
    if (newest > known) throw newerSchemaError(newest, known);
    const record = db.prepare<[number, string]>('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)');
    const appliedNow: number[] = [];
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      db.exec(m.sql);
      record.run(m.version, now());
      appliedNow.push(m.version);
    }
    return appliedNow;
  });
  return migrate.immediate();
}
