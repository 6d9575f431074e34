import { describe, expect, it } from 'vitest';
import { decodedPathForwardable, forwardablePath } from './path-policy';

describe('forwardablePath', () => {
  it('forwards the OpenAI API', () => {
    for (const p of ['/v1/chat/completions', '/v1/models', '/v1/models/mock-model', '/v1/models/caf%C3%A9', '/v1']) expect(forwardablePath(p), p).toBe(true);
  });

  it('refuses everything that could reach elsewhere in the session', () => {
    for (const p of ['/', '/metrics', '/v2/x', '/v1/../admin', '/v1/%2e%2e/admin', '/v1/./x', 'http://evil/v1/x', '/v1\\..\\x', '/v1/%zz', '/v10/x']) {
      expect(forwardablePath(p), p).toBe(false);
    }
  });

  it('refuses paths that only look harmless while encoded', () => {
    const encoded = ['/v1/..%5cadmin', '/v1/..;/admin', '/v1/models;x', '/v1/models%00x', '/v1/%252e%252e/admin', '/v1/models%2Fmodel', '/v1/a%2f..%2fb', '/v1/x%0d%0ay'];
    for (const p of encoded) {
      expect(forwardablePath(p), p).toBe(false);
    }
  });
});

describe('forwardablePath for a plain HTTP tunnel', () => {
  it('forwards any origin-form path but no dot segments or authority tricks', () => {
    for (const p of ['/', '/index.html', '/api/v2/items?x=1', '/v1/models']) expect(forwardablePath(p, true), p).toBe(true);
    for (const p of ['//evil.example/x', 'http://evil/', '/a/../b', '/%2e%2e/b']) expect(forwardablePath(p, true), p).toBe(false);
  });
});

describe('the plain-path shortcut', () => {
  it('answers as the full check does, for paths built from the characters that matter', () => {
    // A fixed seed: the same few thousand paths on every run.
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const alphabet = ['/', '/', 'v', '1', '.', '..', '%', '2', 'e', 'f', 'F', '5', 'c', ';', '\\', '-', '_', 'A', '0', '\u0000', '\n'];
    for (let n = 0; n < 5000; n++) {
      let p = n % 2 === 0 ? '/v1/' : '/';
      const len = Math.floor(next() * 8);
      for (let i = 0; i < len; i++) p += alphabet[Math.floor(next() * alphabet.length)];
      for (const plain of [true, false]) {
        const prefixOk = plain ? !p.startsWith('//') : p.startsWith('/v1/') || p === '/v1';
        expect(forwardablePath(p, plain), JSON.stringify(p)).toBe(prefixOk && decodedPathForwardable(p, plain));
      }
    }
  });
});
