import { describe, expect, it } from 'vitest';
import { relayedHead } from './relayed-headers';

describe('relayedHead', () => {
  it('drops hop-by-hop headers, turns repeated names into arrays and sets our request id over the agent\'s', () => {
    const { headers, streaming } = relayedHead(
      [
        { name: 'content-type', value: 'application/json' },
        { name: 'transfer-encoding', value: 'chunked' },
        { name: 'connection', value: 'keep-alive' },
        { name: 'x-multi', value: 'a' },
        { name: 'x-multi', value: 'b' },
        { name: 'x-multi', value: 'c' },
        { name: 'x-request-id', value: 'from-upstream' },
        { name: 'content-length', value: '11' },
      ],
      'r-1',
      false,
    );
    expect(headers).toEqual({ 'content-type': 'application/json', 'x-multi': ['a', 'b', 'c'], 'x-request-id': 'r-1', 'content-length': '11' });
    expect(streaming).toBe(false);
  });

  it("drops an API answer's cookies and CORS grants in any case, and adds nosniff", () => {
    const { headers } = relayedHead(
      [
        { name: 'set-cookie', value: 'a=1' },
        { name: 'Set-Cookie', value: 'b=2' },
        { name: 'Access-Control-Allow-Origin', value: '*' },
        { name: 'x-kept', value: 'yes' },
      ],
      'r-1',
      true,
    );
    expect(headers).toEqual({ 'x-kept': 'yes', 'x-request-id': 'r-1', 'x-content-type-options': 'nosniff' });
  });

  it('streams event streams, NDJSON and gRPC without content-length and unbuffered; only SSE can carry an error event', () => {
    const sse = relayedHead(
      [
        { name: 'content-type', value: 'Text/Event-Stream; charset=utf-8' },
        { name: 'content-length', value: '99' },
        { name: 'cache-control', value: 'max-age=60' },
      ],
      'r-1',
      true,
    );
    expect(sse).toMatchObject({ streaming: true, eventStream: true });
    expect(sse.headers).toEqual({
      'content-type': 'Text/Event-Stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
      'x-request-id': 'r-1',
      'x-content-type-options': 'nosniff',
    });
    expect(relayedHead([{ name: 'content-type', value: 'application/x-ndjson' }], 'r', false)).toMatchObject({ streaming: true, eventStream: false });
    expect(relayedHead([], 'r', false)).toMatchObject({ streaming: false, eventStream: false });
  });
});
