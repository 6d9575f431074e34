import { describe, expect, it } from 'vitest';
import { isPlainPath } from './plain-path';

describe('isPlainPath', () => {
  it('accepts paths of letters, digits, slashes, dashes and underscores', () => {
    for (const p of ['/v1/chat/completions', '/v1', '/', '/v1/models/mock-llama_3-8B', '/v1//models']) expect(isPlainPath(p), p).toBe(true);
  });

  it('sends everything that could decode, climb or carry parameters to the full check', () => {
    for (const p of ['/v1/./x', '/v1/../x', '/v1/llama-3.1', '/v1/%2e', '/v1;x', '/v1\\x', '/v1/x\u0000', '/v1/x\n', '/v1/x y', '/v1/café', '/v1/a:b', '/v1?x']) {
      expect(isPlainPath(p), JSON.stringify(p)).toBe(false);
    }
  });
});
