import { describe, expect, it } from 'vitest';
import { toWireHeaders } from '@st/tunnel-protocol';
import { util } from 'undici';
import { upstreamRequestHeaders, wireHeadersFromRaw } from './upstream-headers';

const parseHeaders = (list: Buffer[]) => util.parseHeaders(list) as Record<string, string | string[]>;

describe('upstreamRequestHeaders', () => {
  it("drops hop-by-hop headers, the caller's credentials and length, and keeps repeated names as repeated lines", () => {
    const out = upstreamRequestHeaders(
      [
        { name: 'content-type', value: 'application/json' },
        { name: 'host', value: 'gateway.example' },
        { name: 'transfer-encoding', value: 'chunked' },
        { name: 'authorization', value: 'Bearer st_key_caller' },
        { name: 'expect', value: '100-continue' },
        { name: 'content-length', value: '12' },
        { name: 'x-multi', value: 'a' },
        { name: 'x-multi', value: 'b' },
      ],
      'r-1',
    );
    expect(out).toEqual(['content-type', 'application/json', 'x-multi', 'a', 'x-multi', 'b', 'x-request-id', 'r-1']);
  });

  it("puts the agent's own headers and the request id in place of any sent under those names", () => {
    const out = upstreamRequestHeaders(
      [
        { name: 'x-request-id', value: 'forged' },
        { name: 'x-api-key', value: 'from-caller' },
        { name: 'constructor', value: 'kept' },
      ],
      'r-2',
      { 'x-api-key': 'agent-secret', authorization: 'Bearer upstream-key' },
    );
    expect(out).toEqual(['constructor', 'kept', 'x-api-key', 'agent-secret', 'authorization', 'Bearer upstream-key', 'x-request-id', 'r-2']);
  });
});

describe('wireHeadersFromRaw', () => {
  const raw = (...pairs: string[]) => pairs.map((p) => Buffer.from(p, 'latin1'));

  it('lower-cases names, keeps repeated lines and the bytes of values, and drops hop-by-hop headers and those Connection names', () => {
    const out = wireHeadersFromRaw(
      raw(
        'Content-Type', 'text/event-stream',
        'Connection', 'keep-alive, X-Hop',
        'Keep-Alive', 'timeout=5',
        'Transfer-Encoding', 'chunked',
        'Set-Cookie', 'a=1',
        'x-hop', 'dropped',
        'set-cookie', 'b=2',
        'X-Name', 'caf\u00e9',
      ),
    );
    expect(out).toEqual([
      { name: 'content-type', value: 'text/event-stream' },
      { name: 'set-cookie', value: 'a=1' },
      { name: 'set-cookie', value: 'b=2' },
      { name: 'x-name', value: 'caf\u00e9' },
    ]);
  });

  it('gives what undici’s parsed headers gave through toWireHeaders, up to the order of repeated names', () => {
    const lists = [
      raw('content-type', 'application/json', 'content-length', '42', 'date', 'Mon', 'server', 'uvicorn'),
      raw('A', '1', 'b', '2', 'a', '3', 'connection', 'close'),
      raw('__proto__', 'x', 'constructor', 'y', 'Connection', 'constructor'),
    ];
    for (const list of lists) {
      const expected = toWireHeaders(parseHeaders(list));
      const byName = (h: { name: string; value: string }[]) => [...h].sort((x, y) => x.name.localeCompare(y.name));
      expect(byName(wireHeadersFromRaw(list))).toEqual(byName(expected));
    }
  });
});
