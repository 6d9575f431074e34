import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { requestHeadersProblem, trailersProblem } from './h2-header-validation';

type Headers = Array<[string, string]>;
const base: Headers = [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', '/sessiontunnel.v1.TunnelService/Connect'],
  [':authority', 'broker:8443'],
  ['content-type', 'application/grpc'],
  ['te', 'trailers'],
];

describe('requestHeadersProblem (RFC 9113 8.2, 8.3)', () => {
  it('accepts a gRPC request, and a CONNECT with only :method and :authority', () => {
    expect(requestHeadersProblem(base)).toBeUndefined();
    expect(requestHeadersProblem([[':method', 'CONNECT'], [':authority', 'h:1'], ['x', 'y']])).toBeUndefined();
    expect(requestHeadersProblem([...base, ['x-empty', ''], ['x-inner', 'a b\tc'], ['x-latin1', 'caf\u00e9']])).toBeUndefined();
  });

  it.each<[string, Headers]>([
    ['an uppercase name', [...base, ['X-Upper', 'v']]],
    ['a space in a name', [...base, ['x y', 'v']]],
    ['a colon inside a name', [...base, ['x:y', 'v']]],
    ['a non-ASCII name', [...base, ['x\u00e9', 'v']]],
    ['an empty name', [...base, ['', 'v']]],
    ['a CR in a value', [...base, ['x', 'a\rb']]],
    ['a LF in a value', [...base, ['x', 'a\nb']]],
    ['a NUL in a value', [...base, ['x', 'a\0b']]],
    ['a value with a leading space', [...base, ['x', ' v']]],
    ['a value with a trailing tab', [...base, ['x', 'v\t']]],
    ['a LF in a pseudo-header value', [[':method', 'POST'], [':scheme', 'http'], [':path', '/a\nb']]],
    ['a connection header', [...base, ['connection', 'close']]],
    ['transfer-encoding', [...base, ['transfer-encoding', 'chunked']]],
    ['te other than trailers', [...base.filter(([n]) => n !== 'te'), ['te', 'gzip']]],
    ['a pseudo-header after a regular field', [...base, [':authority', 'again']]],
    ['a repeated pseudo-header', [[':method', 'POST'], [':method', 'GET'], [':scheme', 'http'], [':path', '/']]],
    ['a response pseudo-header', [[':status', '200'], ...base]],
    ['an unknown pseudo-header', [[':protocol', 'websocket'], ...base]],
    ['no :method', base.filter(([n]) => n !== ':method')],
    ['no :scheme', base.filter(([n]) => n !== ':scheme')],
    ['no :path', base.filter(([n]) => n !== ':path')],
    ['an empty :path', base.map(([n, v]): [string, string] => [n, n === ':path' ? '' : v])],
    ['a CONNECT without :authority', [[':method', 'CONNECT']]],
    ['a CONNECT with :path', [[':method', 'CONNECT'], [':authority', 'h:1'], [':path', '/']]],
  ])('rejects %s', (_what, headers) => {
    expect(requestHeadersProblem(headers)).toEqual(expect.any(String));
  });

  it('accepts every list of valid regular fields after valid pseudo-headers', () => {
    const nameChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789!#$%&\'*+-.^_`|~');
    const name = fc.string({ unit: nameChar, minLength: 1, maxLength: 12 }).filter((n) => !['connection', 'proxy-connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te'].includes(n));
    const valueChar = fc.oneof(fc.integer({ min: 0x21, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }), fc.constantFrom(0x20, 0x09)).map((c) => String.fromCharCode(c));
    const value = fc.string({ unit: valueChar, maxLength: 20 }).map((v) => v.replace(/^[ \t]+|[ \t]+$/g, ''));
    fc.assert(
      fc.property(fc.array(fc.tuple(name, value), { maxLength: 10 }), (fields) => {
        expect(requestHeadersProblem([...base, ...fields])).toBeUndefined();
        expect(trailersProblem(fields)).toBeUndefined();
      }),
    );
  });
});

describe('trailersProblem', () => {
  it('accepts gRPC trailers and rejects pseudo-headers or bad fields in them', () => {
    expect(trailersProblem([['grpc-status', '0'], ['grpc-message', 'ok']])).toBeUndefined();
    expect(trailersProblem([[':status', '200']])).toEqual(expect.any(String));
    expect(trailersProblem([['Grpc-Status', '0']])).toEqual(expect.any(String));
    expect(trailersProblem([['x', 'a\r\nb']])).toEqual(expect.any(String));
  });
});
