import { describe, expect, it } from 'vitest';
import {
  AGENT_TOKEN_PREFIX,
  API_KEY_PREFIX,
  digestSecret,
  generateSecret,
  isWellFormedSecret,
  secretHint,
} from './secrets';

describe('secrets', () => {
  it('generates prefixed base64url secrets carrying 256 random bits', () => {
    for (const prefix of [API_KEY_PREFIX, AGENT_TOKEN_PREFIX] as const) {
      const secret = generateSecret(prefix);
      expect(secret.startsWith(prefix)).toBe(true);
      const body = secret.slice(prefix.length);
      expect(body).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(body, 'base64url')).toHaveLength(32);
    }
  });

  it('never repeats a secret and uses the whole alphabet', () => {
    const secrets = new Set(Array.from({ length: 2000 }, () => generateSecret(API_KEY_PREFIX)));
    expect(secrets.size).toBe(2000);
    const chars = new Set([...secrets].flatMap((s) => [...s.slice(API_KEY_PREFIX.length, -1)]));
    expect(chars.size).toBe(64);
  });

  it('digests with SHA-256 as lowercase hex', () => {
    expect(digestSecret('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const secret = generateSecret(API_KEY_PREFIX);
    expect(digestSecret(secret)).toMatch(/^[0-9a-f]{64}$/);
    expect(digestSecret(secret)).toBe(digestSecret(secret));
    expect(digestSecret(secret)).not.toBe(digestSecret(generateSecret(API_KEY_PREFIX)));
  });

  it('hints with the first 12 characters only', () => {
    const secret = generateSecret(API_KEY_PREFIX);
    expect(secretHint(secret)).toBe(secret.slice(0, 12) + '…');
    expect(secretHint(secret)).not.toContain(secret.slice(12));
  });

  it('recognises only secrets of the expected kind and shape', () => {
    const key = generateSecret(API_KEY_PREFIX);
    const token = generateSecret(AGENT_TOKEN_PREFIX);
    expect(isWellFormedSecret(key, API_KEY_PREFIX)).toBe(true);
    expect(isWellFormedSecret(token, AGENT_TOKEN_PREFIX)).toBe(true);
    expect(isWellFormedSecret(token, API_KEY_PREFIX)).toBe(false);
    expect(isWellFormedSecret(key, AGENT_TOKEN_PREFIX)).toBe(false);
    expect(isWellFormedSecret(key + 'a', API_KEY_PREFIX)).toBe(false);
    expect(isWellFormedSecret(key.slice(0, -1) + '=', API_KEY_PREFIX)).toBe(false);
    expect(isWellFormedSecret(key.slice(0, -1) + '+', API_KEY_PREFIX)).toBe(false);
    expect(isWellFormedSecret(42, API_KEY_PREFIX)).toBe(false);
  });
});
