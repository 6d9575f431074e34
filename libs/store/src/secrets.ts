import { createHash, randomBytes } from 'node:crypto';

/** Prefix of user API keys; lets a leaked key be recognised (e.g. by secret scanners) and typed. */
export const API_KEY_PREFIX = 'st_key_';
/** Prefix of tunnel agent tokens; distinct from API keys so one can never be used as the other. */
export const AGENT_TOKEN_PREFIX = 'st_agent_';

export type SecretPrefix = typeof API_KEY_PREFIX | typeof AGENT_TOKEN_PREFIX;

const SECRET_BYTES = 32;
/** base64url of 32 bytes, unpadded. */
const SECRET_BODY_LENGTH = 43;
const SECRET_BODY = /^[A-Za-z0-9_-]+$/;
const HINT_LENGTH = 12;

/** A new secret: the prefix plus 256 random bits, base64url (safe in headers, URLs and shells). */
export function generateSecret(prefix: SecretPrefix): string {
  return prefix + randomBytes(SECRET_BYTES).toString('base64url');
}

/**
 * The value stored instead of a secret. A plain SHA-256 is enough and deliberately not bcrypt or
 * scrypt: slow hashes defend low-entropy passwords against guessing, but 256 random bits cannot be
 * brute-forced anyway, and every gateway request authenticates a secret, so the hot path must not
 * pay tens of milliseconds for a slow hash. Being deterministic, the digest can also be looked up
 * through a unique index.
 */
export function digestSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/**
 * Whether `value` has the exact shape of a secret made by {@link generateSecret} with `prefix`.
 * Lets callers refuse garbage (or the other kind of secret) without touching the database.
 */
export function isWellFormedSecret(value: unknown, prefix: SecretPrefix): value is string {
  if (typeof value !== 'string' || !value.startsWith(prefix)) return false;
  const body = value.slice(prefix.length);
  return body.length === SECRET_BODY_LENGTH && SECRET_BODY.test(body);
}

/** Shows which secret is meant (in listings, logs) while revealing only a few of its random bits. */
export function secretHint(secret: string): string {
  return secret.slice(0, HINT_LENGTH) + '…';
}
