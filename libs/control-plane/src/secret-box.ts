import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Encrypts secrets kept at rest for others (a tunnel's upstream API key) with AES-256-GCM. The key
 * comes from ST_SECRET_KEY (any string; hashed to 256 bits) or from a random key file made once in
 * the data directory (never for replicas on a shared database: they must all open what any of them
 * sealed, so replica-secrets.ts requires ST_SECRET_KEY). Ciphertext: "v1:<iv>:<tag>:<data>", base64url parts.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  static load(dataDir: string, configured?: string): SecretBox {
    if (configured) return new SecretBox(createHash('sha256').update(configured).digest());
    const file = join(dataDir, 'secret.key');
    try {
      return new SecretBox(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const key = randomBytes(32);
    try {
      writeFileSync(file, `${key.toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
      return new SecretBox(key);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return SecretBox.load(dataDir);
      throw err;
    }
  }

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), data.toString('base64url')].join(':');
  }

  /** @throws when the ciphertext was not sealed with this key (ST_SECRET_KEY changed?). */
  open(sealed: string): string {
    const [version, iv, tag, data] = sealed.split(':');
    if (version !== 'v1' || !iv || !tag || data === undefined) throw new Error('unrecognised ciphertext format');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    try {
      return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new Error('cannot decrypt the stored upstream API key: ST_SECRET_KEY (or the data directory\'s secret.key) changed since it was stored; set the key again on the tunnel');
    }
  }
}
