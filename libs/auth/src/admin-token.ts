import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Prefix of generated admin tokens, so a leaked one is recognisable in a scan. */
export const ADMIN_TOKEN_PREFIX = 'st_admin_';

/**
 * The admin credential. Either ST_ADMIN_TOKEN, or a token made on first start: then only its
 * SHA-256 digest is kept in the data directory and the token itself is returned once, to be
 * printed once.
 */
export class AdminToken {
  private constructor(private readonly digest: Buffer) {}

  /** `created` is the new token when one was made now (print it once), otherwise undefined. */
  static load(dataDir: string, configured?: string): { admin: AdminToken; created?: string } {
    if (configured) return { admin: new AdminToken(sha256(configured)) };
    const file = join(dataDir, 'admin-token.sha256');
    try {
      const digest = Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
      if (digest.length !== 32) {
        throw new Error(`${file} is damaged (not a SHA-256 digest): delete it to have a new admin token made, or set ST_ADMIN_TOKEN`);
      }
      return { admin: new AdminToken(digest) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const token = ADMIN_TOKEN_PREFIX + randomBytes(32).toString('base64url');
    writeFileSync(file, `${sha256(token).toString('hex')}\n`, { mode: 0o600 });
    return { admin: new AdminToken(sha256(token)), created: token };
  }

  matches(secret: string): boolean {
    return timingSafeEqual(sha256(secret), this.digest);
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
