import { describe, expect, it } from 'vitest';
import { parseTunnelRoute } from './tunnel-route';

describe('parseTunnelRoute', () => {
  it('splits tunnel id, path and query', () => {
    expect(parseTunnelRoute('/t/t-abc/v1/models?x=1&y=2')).toEqual({ tunnelId: 't-abc', path: '/v1/models', query: 'x=1&y=2' });
    expect(parseTunnelRoute('/t/t-abc')).toEqual({ tunnelId: 't-abc', path: '/', query: '' });
  });

  it('treats any id shape as an opaque key', () => {
    expect(parseTunnelRoute('/t/%2e%2e/v1/models')?.tunnelId).toBe('..');
    expect(parseTunnelRoute('/t/%zz/v1/models')?.tunnelId).toBe('%zz');
    expect(parseTunnelRoute('/t//v1')).toBeUndefined();
    expect(parseTunnelRoute('/v1/models')).toBeUndefined();
  });
});
