import { describe, expect, it } from 'vitest';
import { decodedPathRefusal, pathRefusal } from './path-check';

describe('pathRefusal for OpenAI tunnels and /v1', () => {
  it('forwards the OpenAI API', () => {
    for (const p of ['/v1/chat/completions', '/v1/models', '/v1/models/mock-llama-3-8b', '/v1', '/v1/files/file-abc:1', '/v1/models/caf%C3%A9']) {
      expect(pathRefusal(p, true), p).toBeUndefined();
    }
  });

  it('refuses paths that only look harmless while encoded', () => {
    const refused = [
      '/v1/..%5cadmin',
      '/v1/..\\admin',
      '/v1/..;/admin',
      '/v1/models;x=1',
      '/v1/models%00x',
      '/v1/models\u0000x',
      '/v1/%252e%252e/admin',
      '/v1/%252e%252e%252fadmin',
      '/v1/models%2f..%2fadmin',
      '/v1/models/a%2Fb',
      '/v1/../admin',
      '/v1/%2e%2e/admin',
      '/v1/./models',
      '/v1/models%0d%0aX-Injected:1',
      '/v1/%zz',
    ];
    for (const p of refused) expect(pathRefusal(p, true), p).toBeDefined();
  });
});

describe('pathRefusal for a plain HTTP tunnel', () => {
  it("forwards any path of the owner's web app", () => {
    for (const p of ['/', '/index.html', '/api;jsessionid=1/items', '/files/a%2Fb', '/search/100%25', '/a/./b', '/v1/models']) {
      expect(pathRefusal(p, false), p).toBeUndefined();
    }
  });

  it('refuses what could escape the app: .. after decoding, NUL', () => {
    for (const p of ['/a/../b', '/%2e%2e/b', '/a/..%5cb', '/x%00', '/%zz']) expect(pathRefusal(p, false), p).toBeDefined();
  });
});

describe('the plain-path shortcut', () => {
  it('answers as the full check does, for paths built from the characters that matter', () => {
    // A fixed seed: the same few thousand paths on every run.
    let seed = 9;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const alphabet = ['/', '/', 'v', '1', '.', '..', '%', '2', 'e', 'f', 'F', '5', 'c', ';', '\\', '-', '_', 'A', '0', '\u0000', '\n'];
    for (let n = 0; n < 5000; n++) {
      let p = '/v1/';
      const len = Math.floor(next() * 8);
      for (let i = 0; i < len; i++) p += alphabet[Math.floor(next() * alphabet.length)];
      for (const openai of [true, false]) expect(pathRefusal(p, openai), JSON.stringify(p)).toBe(decodedPathRefusal(p, openai));
    }
  });
});
