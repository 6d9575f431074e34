import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The secret a gateway shows the broker over RelayService. Roles sharing a data directory share
 * it without configuration; roles on different machines are given ST_SERVICE_TOKEN (replicas on a
 * shared database must be: replica-secrets.ts refuses to start them without it, before this runs).
 */
export function loadOrCreateServiceToken(dataDir: string, configured?: string): string {
  if (configured) return configured;
  const file = join(dataDir, 'service-token');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  try {
    writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
    return token;
  } catch (err) {
    // Another role created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(file, 'utf8').trim();
    throw err;
  }
}
