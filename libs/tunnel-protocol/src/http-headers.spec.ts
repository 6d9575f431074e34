import { describe, expect, it } from 'vitest';
import { connectionTokens, fromWireHeaders, toWireHeaders } from './http-headers';

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

  it('drops the one header a single-name Connection lists, whatever its case and spacing', () => {
    const headers = { connection: ' X-Hop ', 'x-hop': 'secret', 'x-kept': '1' };
    expect(toWireHeaders(headers)).toEqual([{ name: 'x-kept', value: '1' }]);
  });

  it('treats "Connection: close" as naming a header called close', () => {
    expect(toWireHeaders({ connection: 'close', close: 'x', 'content-type': 'text/plain' })).toEqual([{ name: 'content-type', value: 'text/plain' }]);
  });

  it('reads every name of a Connection header given as a list or as repeated headers', () => {
    const headers = { connection: ['keep-alive', 'x-a ,, X-B'], 'x-a': '1', 'x-b': '2', 'x-c': '3' };
    expect(toWireHeaders(headers)).toEqual([{ name: 'x-c', value: '3' }]);
    expect(connectionTokens('keep-alive, Upgrade')).toEqual(new Set(['keep-alive', 'upgrade']));
  });

  it('finds no names in an empty or blank Connection header', () => {
    expect(connectionTokens(undefined)).toBeUndefined();
    expect(connectionTokens('')).toBeUndefined();
    expect(connectionTokens('   ')).toBeUndefined();
    expect(toWireHeaders({ connection: ' ', 'x-a': '1' })).toEqual([{ name: 'x-a', value: '1' }]);
  });
});
