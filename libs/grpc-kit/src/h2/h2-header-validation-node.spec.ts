import { once } from 'node:events';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestHeadersProblem } from './h2-header-validation';
import { CLIENT_PREFACE, FLAG, FRAME, FrameReader, encodeFrame, encodeSettings, encodeSettingsAck } from './h2-frames';
import { encodeHeaderBlock } from './hpack-encoder';

// requestHeadersProblem against nghttp2's own checks: each header list goes, raw, to a
// node:http2 server, which resets the stream, answers without handing the offending field to
// the handler (nghttp2 drops regular fields with bad characters rather than resetting: RFC 9113
// 8.2.1 says malformed, we follow the RFC), or answers with every field. What we accept nghttp2
// passes on whole; what we refuse it refuses or drops: the light server lets nothing through that
// node:http2 would hand to a grpc-js handler.

type Headers = Array<[string, string]>;
const base: Headers = [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', '/sessiontunnel.v1.TunnelService/Connect'],
  [':authority', 'broker:8443'],
  ['content-type', 'application/grpc'],
];

let server: http2.Http2Server;
let port = 0;
/** x-case -> the regular fields the handler saw. */
const seen = new Map<string, Headers>();
beforeAll(async () => {
  server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const fields = Object.entries(headers).filter(([n]) => !n.startsWith(':')).map(([n, v]): [string, string] => [n, String(v)]);
    seen.set(String(headers['x-case']), fields);
    stream.respond({ ':status': 200 }, { endStream: true });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as net.AddressInfo).port;
});
afterAll(() => {
  server.close();
});

/** 'passed': node:http2 handed the handler every regular field; 'dropped': some were missing; 'reset': it refused the stream. */
let caseId = 0;
async function nodeVerdict(sent: Headers): Promise<'passed' | 'dropped' | 'reset'> {
  const id = String(++caseId);
  const headers: Headers = [...sent, ['x-case', id]];
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(Buffer.concat([CLIENT_PREFACE, encodeSettings([]), encodeFrame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, encodeHeaderBlock(headers))]));
  const reader = new FrameReader({ maxFrameSize: 16384, expectPreface: false });
  try {
    return await new Promise((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        for (const f of reader.push(chunk)) {
          if (f.type === FRAME.SETTINGS && !(f.flags & FLAG.ACK)) socket.write(encodeSettingsAck());
          if (f.type === FRAME.HEADERS && f.streamId === 1) {
            const got = JSON.stringify(seen.get(id));
            resolve(sent.every(([n, v]) => n.startsWith(':') || got.includes(JSON.stringify([n, v]))) ? 'passed' : 'dropped');
          }
          if ((f.type === FRAME.RST_STREAM && f.streamId === 1) || f.type === FRAME.GOAWAY) resolve('reset');
        }
      });
      socket.on('close', () => reject(new Error('closed without a verdict')));
      socket.on('error', reject);
    });
  } finally {
    socket.destroy();
  }
}

const cases: Array<[string, Headers]> = [
  ['a gRPC request', [...base, ['te', 'trailers']]],
  ['inner spaces and tabs, and latin1, in values', [...base, ['x', 'a b\tc'], ['y', 'caf\u00e9']]],
  ['an empty value', [...base, ['x-empty', '']]],
  ['an uppercase name', [...base, ['X-Upper', 'v']]],
  ['a space in a name', [...base, ['x y', 'v']]],
  ['a colon inside a name', [...base, ['x:y', 'v']]],
  ['a CR in a value', [...base, ['x', 'a\rb']]],
  ['a LF in a value', [...base, ['x', 'a\nb']]],
  ['a NUL in a value', [...base, ['x', 'a\0b']]],
  ['a value with a leading space', [...base, ['x', ' v']]],
  ['a value with a trailing tab', [...base, ['x', 'v\t']]],
  ['a connection header', [...base, ['connection', 'close']]],
  ['transfer-encoding', [...base, ['transfer-encoding', 'chunked']]],
  ['te other than trailers', [...base, ['te', 'gzip']]],
  ['a pseudo-header after a regular field', [...base, [':authority', 'again']]],
  ['a repeated pseudo-header', [[':method', 'POST'], ...base]],
  ['a response pseudo-header', [[':status', '200'], ...base]],
  ['no :method', base.filter(([n]) => n !== ':method')],
  ['no :scheme', base.filter(([n]) => n !== ':scheme')],
  ['no :path', base.filter(([n]) => n !== ':path')],
  ['an empty :path', base.map(([n, v]): [string, string] => [n, n === ':path' ? '' : v])],
  ['a CONNECT', [[':method', 'CONNECT'], [':authority', 'h:1']]],
  ['a CONNECT with :path', [[':method', 'CONNECT'], [':authority', 'h:1'], [':path', '/']]],
];

describe('requestHeadersProblem agrees with node:http2 (nghttp2)', () => {
  it.each(cases)('on %s', async (_what, headers) => {
    const verdict = await nodeVerdict(headers);
    if (requestHeadersProblem(headers) === undefined) expect(verdict).toBe('passed');
    else expect(['reset', 'dropped']).toContain(verdict);
  });
});
