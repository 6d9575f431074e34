import { describe, expect, it } from 'vitest';
import { upstreamRequestHeaders } from './upstream-headers';

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
