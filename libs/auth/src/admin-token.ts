import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '@st/logging';
import { SETTING, type Store } from '@st/store';

/** Prefix of generated admin tokens, so a leaked one is recognisable in a scan. */
export const ADMIN_TOKEN_PREFIX = 'st_admin_';

/** Where releases before the digest moved into the store kept it; moved into the store on start. */
export const LEGACY_ADMIN_DIGEST_FILE = 'admin-token.sha256';

/**
 * How long a digest read from the store is trusted: `st-server admin-token --reset` on one
 * machine takes effect on every running replica within this time.
 */
const REFRESH_MS = 2_000;

type DigestStore = Pick<Store, 'getSetting' | 'putSetting' | 'putSettingIfAbsent'>;

/**
 * The admin credential. Either ST_ADMIN_TOKEN, or a token made on first start: then only its
 * SHA-256 digest is kept, in the store (so every replica sharing the database shares it), and
 * the token itself is returned once, to be printed once.
 */
export class AdminToken {
  private loadedAt: number;

  private constructor(
    private digest: Buffer,
    private readonly store: Pick<Store, 'getSetting'> | undefined,
    private readonly now: () => number,
  ) {
    this.loadedAt = now();
  }

  /** ST_ADMIN_TOKEN: the store's digest is not used. */
  static fixed(configured: string): AdminToken {
    return new AdminToken(sha256(configured), undefined, Date.now);
  }

  /**
   * The admin of a process that checks no admin token (a broker or gateway replica): nothing
   * matches it, since its digest is random and nobody holds a preimage.
   */
  static none(): AdminToken {
    return new AdminToken(randomBytes(32), undefined, Date.now);
  }

  /** The admin token whose digest is in the store, or undefined when there is none yet (never made here). */
  static async stored(store: Pick<Store, 'getSetting'>, options: { now?: () => number } = {}): Promise<AdminToken | undefined> {
    const stored = await store.getSetting(SETTING.adminTokenDigest);
    if (stored === null) return undefined;
    return new AdminToken(parseDigest(stored, 'the store'), store, options.now ?? Date.now);
  }

  /**
   * The store's admin token. On the first start of an installation it is made now and returned
   * as `created` (print it once); a digest file left by an older release is moved into the store.
   */
  static async load(
    store: DigestStore,
    dataDir: string,
    options: { logger?: Logger; now?: () => number } = {},
  ): Promise<{ admin: AdminToken; created?: string }> {
    const now = options.now ?? Date.now;
    const stored = await store.getSetting(SETTING.adminTokenDigest);
    if (stored !== null) return { admin: new AdminToken(parseDigest(stored, 'the store'), store, now) };

    const file = join(dataDir, LEGACY_ADMIN_DIGEST_FILE);
    const legacy = readLegacyDigest(file);
    if (legacy) {
      await store.putSettingIfAbsent(SETTING.adminTokenDigest, legacy.toString('hex'));
      // Kept no longer: a stale copy would only mislead whoever resets the token later.
      unlinkSync(file);
      options.logger?.info({ file }, 'moved the admin token digest from the data directory into the store; the admin token is unchanged');
      return AdminToken.load(store, dataDir, options);
    }

    const token = mintAdminToken();
    // Two replicas starting at once on an empty database: the first one's token wins, and only
    // that one prints it.
    if (!(await store.putSettingIfAbsent(SETTING.adminTokenDigest, sha256(token).toString('hex')))) {
      return AdminToken.load(store, dataDir, options);
    }
    return { admin: new AdminToken(sha256(token), store, now), created: token };
  }

  /** Mints a new admin token, stores its digest (the old token stops working) and returns it once. */
  static async reset(store: DigestStore): Promise<string> {
    const token = mintAdminToken();
    await store.putSetting(SETTING.adminTokenDigest, sha256(token).toString('hex'));
    return token;
  }

  async matches(secret: string): Promise<boolean> {
    if (this.store && this.now() - this.loadedAt >= REFRESH_MS) {
      const stored = await this.store.getSetting(SETTING.adminTokenDigest);
      if (stored !== null) this.digest = parseDigest(stored, 'the store');
      this.loadedAt = this.now();
    }
    return timingSafeEqual(sha256(secret), this.digest);
  }
}

function mintAdminToken(): string {
  return ADMIN_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

function readLegacyDigest(file: string): Buffer | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return parseDigest(text.trim(), file);
}

function parseDigest(hex: string, where: string): Buffer {
  const digest = Buffer.from(hex, 'hex');
  if (digest.length !== 32) {
    throw new Error(`the admin token digest in ${where} is damaged (not a SHA-256 digest): run "st-server admin-token --reset", or set ST_ADMIN_TOKEN`);
  }
  return digest;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
