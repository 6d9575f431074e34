import { describe, expect, it } from 'vitest';
import { ROUTE_KINDS, routeKindOf } from './route-kind';

describe('routeKindOf', () => {
  it.each([
    ['/t/t-abc/v1/chat/completions', 'chat'],
    ['/t/t-abc/v1/chat/completions?x=1', 'chat'],
    ['/v1/chat/completions', 'chat'],
    ['/v1/chat/completions/', 'chat'],
    ['/t/t-abc/v1/completions', 'completions'],
    ['/t/t-abc/v1/embeddings', 'embeddings'],
    ['/t/t-abc/v1/models', 'models'],
    ['/v1/models/mock-llama-3-8b', 'models'],
    ['/t/t-abc/v1/chat/completionsx', 'other'],
    ['/t/t-abc/v1/audio/speech', 'other'],
    ['/t/t-abc', 'other'],
    ['/nowhere', 'other'],
    ['/v1', 'other'],
  ])('%s is %s', (url, kind) => {
    expect(ROUTE_KINDS[routeKindOf(url)]).toBe(kind);
  });
});
