import type { Database } from 'better-sqlite3';
import type { Migration } from './migrations';

/**
 * Brings the schema up to date and returns the versions applied now. Runs in one IMMEDIATE
 * transaction: when two processes open the same file at once, the second waits for the first
 * (busy_timeout) and then finds nothing left to do, instead of both creating the same tables.
 */
export function applyMigrations(db: Database, migrations: readonly Migration[], now: () => string): number[] {
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i].version <= migrations[i - 1].version) {
      throw new Error(`migration ${migrations[i].version} is out of order; versions must increase`);
    }
  }
  const known = migrations.length > 0 ? migrations[migrations.length - 1].version : 0;

  const migrate = db.transaction((): number[] => {
    db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
    const applied = new Set(db.prepare<[], number>('SELECT version FROM schema_migrations').pluck().all());
    const newest = Math.max(0, ...applied);
    if (newest > known) {
      // Running old code on a newer schema could silently corrupt data; refuse instead.
      throw new Error(
        `the database has schema version ${newest} but this build knows only up to ${known}; ` +
          'run the newer release that wrote it, or restore a backup taken before the upgrade',
      );
    }
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
