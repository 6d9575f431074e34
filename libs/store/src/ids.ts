import { randomBytes } from 'node:crypto';

/**
 * `u` user, `s` session, `t` tunnel, `k` API key: the prefix tells what an id names when it shows
 * up in a log.
 */
export type IdKind = 'u' | 's' | 't' | 'k';

// Lowercase RFC 4648 base32: no ambiguous case, safe in DNS labels and URLs.
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const ID_CHARS = 12;

/** A new random id such as `t-k3j9x2ab7qzm` (60 bits: collisions are not a practical concern). */
export function newId(kind: IdKind): string {
  const bytes = randomBytes(ID_CHARS);
  let body = '';
  // 256 is a multiple of 32, so masking to 5 bits keeps every character uniformly likely.
  for (const byte of bytes) body += ALPHABET[byte & 31];
  return `${kind}-${body}`;
}
