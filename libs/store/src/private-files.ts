import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '@st/logging';

/** The data directory holds credential digests, keys and every user's tunnels: owner only. */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/**
 * The files st-server keeps in its data directory, tightened at every start: the SQLite database
 * and its WAL and shared-memory files, the service token, the secret key and the admin digest of
 * older releases.
 */
export const DATA_DIR_FILES = [
  'session-tunnels.db',
  'session-tunnels.db-wal',
  'session-tunnels.db-shm',
  'service-token',
  'secret.key',
  'admin-token.sha256',
] as const;

/**
 * Creates `dir` as 0700, or tightens an existing one that others may read (a directory made by
 * hand, or by an older release, as 0755), whatever the umask. Logs when it had to tighten.
 */
export function ensurePrivateDir(dir: string, logger?: Logger): void {
  // mkdir's mode is filtered by the umask, which only ever removes bits: 0700 stays 0700.
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  tighten(dir, PRIVATE_DIR_MODE, logger, 'data directory');
}

/** Tightens the known files of the data directory that exist to 0600 (see {@link DATA_DIR_FILES}). */
export function tightenDataDirFiles(dir: string, logger?: Logger): void {
  for (const name of DATA_DIR_FILES) tighten(join(dir, name), PRIVATE_FILE_MODE, logger, 'data directory file');
}

/**
 * Makes sure `file` exists as 0600 before a library (SQLite) creates it with 0644 & ~umask.
 * SQLite gives its -wal and -shm files the database file's mode, so they follow.
 */
export function createPrivateFile(file: string, logger?: Logger): void {
  closeSync(openSync(file, 'a', PRIVATE_FILE_MODE));
  tighten(file, PRIVATE_FILE_MODE, logger, 'data directory file');
}

function tighten(path: string, mode: number, logger: Logger | undefined, what: string): void {
  let current: number;
  try {
    current = statSync(path).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if ((current & ~mode) === 0) return;
  chmodSync(path, mode);
  logger?.info({ path, was: octal(current), now: octal(mode) }, `tightened the permissions of a ${what} that others could read`);
}

function octal(mode: number): string {
  return `0${mode.toString(8)}`;
}
