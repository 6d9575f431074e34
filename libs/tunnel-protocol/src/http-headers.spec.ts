import { describe, expect, it } from 'vitest';
import { fromWireHeaders, toWireHeaders } from './http-headers';

describe('header forwarding', () => {
  it('drops hop-by-hop headers, those named in Connection, and the ones asked for', () => {
    const wire = toWireHeaders(
      {
        host: 'gw',
        connection: 'keep-alive, x-secret-hop',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
        'x-secret-hop': '1',
        authorization: 'Bearer st_key_x',
        'content-type': 'application/json',
        'x-multi': ['a', 'b'],
      },
      new Set(['authorization']),
    );
    expect(wire).toEqual([
      { name: 'content-type', value: 'application/json' },
      { name: 'x-multi', value: 'a' },
      { name: 'x-multi', value: 'b' },
    ]);
  });

  it('turns repeated wire headers back into arrays', () => {
    expect(
      fromWireHeaders([
        { name: 'set-cookie', value: 'a=1' },
        { name: 'set-cookie', value: 'b=2' },
        { name: 'content-type', value: 'text/event-stream' },
        { name: 'transfer-encoding', value: 'chunked' },
      ]),
    ).toEqual({ 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/event-stream' });
  });
});
