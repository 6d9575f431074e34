/**
 * A schema change, applied in order at open and recorded in `schema_migrations`. Each backend keeps
 * its own append-only list with the same versions and meaning: an applied migration must never be
 * edited, since databases in the field already ran it.
 */
export interface Migration {
  version: number;
  description: string;
  sql: string;
}

/** The newest version the list knows; throws when versions do not strictly increase. */
export function newestKnownVersion(migrations: readonly Migration[]): number {
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i].version <= migrations[i - 1].version) {
      throw new Error(`migration ${migrations[i].version} is out of order; versions must increase`);
    }
  }
  return migrations.length > 0 ? migrations[migrations.length - 1].version : 0;
}

/** Running old code on a newer schema could silently corrupt data; backends refuse with this. */
export function newerSchemaError(newest: number, known: number): Error {
  return new Error(
    `the database has schema version ${newest} but this build knows only up to ${known}; ` +
      'run the newer release that wrote it, or restore a backup taken before the upgrade',
  );
}
