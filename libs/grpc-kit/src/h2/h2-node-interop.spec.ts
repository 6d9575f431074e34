import { once } from 'node:events';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { FLAG, FRAME, FrameReader, SETTING, encodeFrame, encodeSettings, encodeSettingsAck, headersBlockOf, type Frame } from './h2-frames';
import { HpackDecoder } from './hpack-decoder';
import { encodeHeaderBlock } from './hpack-encoder';

// Cross-checks with Node's real nghttp2 over 127.0.0.1: what a node:http2 client's encoder sends
// (Huffman, incremental indexing, dynamic-table reuse, evictions, CONTINUATION) decodes to what it
// was given, and what we encode is read back by a node:http2 client.

type Headers = Array<[string, string]>;

interface Captured {
  streamId: number;
  /** The header block, CONTINUATION fragments joined. */
  block: Buffer;
  continuations: number;
  headers: Headers;
  oversize: boolean;
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const fn of cleanups.splice(0)) fn();
});

/**
 * A raw net.Server speaking just enough HTTP/2 through our codec: our SETTINGS, an ACK for the
 * client's, one decoder per connection; each request block is decoded and answered `:status 200`.
 */
async function rawServer(options: { settings?: Array<[number, number]>; holdSettingsFor?: number; decoder?: () => HpackDecoder } = {}) {
  const captured: Captured[] = [];
  const errors: unknown[] = [];
  const server = net.createServer((socket) => {
    const reader = new FrameReader({ maxFrameSize: 16384, expectPreface: true });
    const decoder = options.decoder?.() ?? new HpackDecoder();
    let fragments: Buffer[] = [];
    let continuations = 0;
    let streamId = 0;
    // holdSettingsFor: send our SETTINGS only after that many request blocks, so the client has
    // to encode them under the protocol's initial settings.
    // Until then everything else we would send waits too: the server's first frame must be its
    // SETTINGS, not an ACK or a response (RFC 9113 3.4).
    const settings = encodeSettings(options.settings ?? []);
    let held: Buffer[] | null = options.holdSettingsFor ? [] : null;
    const send = (bytes: Buffer) => (held ? held.push(bytes) : socket.write(bytes));
    if (!held) socket.write(settings);
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const frame of reader.push(chunk)) onFrame(frame);
      } catch (err) {
        errors.push(err);
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    const onFrame = (frame: Frame) => {
      if (frame.type === FRAME.SETTINGS && !(frame.flags & FLAG.ACK)) send(encodeSettingsAck());
      if (frame.type === FRAME.SETTINGS && frame.flags & FLAG.ACK) decoder.settingsAcknowledged();
      if (frame.type !== FRAME.HEADERS && frame.type !== FRAME.CONTINUATION) return;
      if (frame.type === FRAME.HEADERS) streamId = frame.streamId;
      else continuations++;
      fragments.push(Buffer.from(headersBlockOf(frame)));
      if (!(frame.flags & FLAG.END_HEADERS)) return;
      const block = Buffer.concat(fragments);
      fragments = [];
      captured.push({ streamId, block, continuations, ...decoder.decode(block) });
      continuations = 0;
      send(encodeFrame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, streamId, encodeHeaderBlock([[':status', '200']])));
      if (held && captured.length === options.holdSettingsFor) {
        socket.write(Buffer.concat([settings, ...held]));
        held = null;
      }
    };
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on('error', (err) => errors.push(err));
  cleanups.push(() => {
    client.destroy();
    server.close();
  });
  /** Sends one request and waits for its answer. */
  const request = async (headers: Headers) => {
    const req = client.request(Object.fromEntries(headers), { endStream: true });
    const [response] = await once(req, 'response');
    req.resume();
    await once(req, 'close');
    return response as http2.IncomingHttpHeaders;
  };
  return { captured, errors, request };
}

const grpcRequest = (authority: string, token: string): Headers => [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', '/sessiontunnel.v1.TunnelService/Connect'],
  [':authority', authority],
  ['content-type', 'application/grpc'],
  ['te', 'trailers'],
  ['user-agent', 'grpc-node-js/1.14.3'],
  ['grpc-accept-encoding', 'identity,deflate,gzip'],
  ['authorization', `Bearer ${token}`],
];

/** Same fields regardless of the order Node puts them in (it may move pseudo-headers first). */
const sorted = (headers: Headers) => [...headers].sort(([a, x], [b, y]) => (a + '\0' + x < b + '\0' + y ? -1 : 1));

describe('HpackDecoder reading a node:http2 client', () => {
  it('decodes grpc-style request headers, Huffman-coded, and reuses the dynamic table across requests', async () => {
    const { captured, errors, request } = await rawServer();
    const token = 'A'.repeat(20) + 'b9-_' + 'z'.repeat(19); // 43 chars, like a base64url 32-byte token
    const first = grpcRequest('broker.example:443', token);
    expect((await request(first))[':status']).toBe(200);
    for (let i = 0; i < 4; i++) await request(first);
    const other = grpcRequest('broker.example:443', 'Q'.repeat(43));
    await request(other);
    expect(errors).toEqual([]);
    expect(captured.map((c) => sorted(c.headers))).toEqual([...Array(5).fill(sorted(first)), sorted(other)]);
    const literalBytes = first.reduce((n, [k, v]) => n + k.length + v.length, 0);
    expect(captured[0].block.length).toBeLessThan(literalBytes * 0.85); // Huffman at work
    // nghttp2 never indexes :path and sends authorization never-indexed; the rest is indexed now.
    expect(captured[1].block.length).toBeLessThan(captured[0].block.length * 0.6);
  });

  it('decodes a header list that needs CONTINUATION frames', async () => {
    const { captured, errors, request } = await rawServer({ decoder: () => new HpackDecoder({ maxHeaderListBytes: 1 << 20 }) });
    const many: Headers = [[':method', 'GET'], [':scheme', 'http'], [':path', '/many'], [':authority', 'x']];
    for (let i = 0; i < 600; i++) many.push([`x-header-${i}`, `value-${i}-${'%'.repeat(i % 50)}`]);
    await request(many);
    expect(errors).toEqual([]);
    expect(captured[0].continuations).toBeGreaterThan(0);
    expect(sorted(captured[0].headers)).toEqual(sorted(many));
  });

  it('stays in step over many requests whose changing headers evict table entries', async () => {
    const { captured, errors, request } = await rawServer();
    const sent: Headers[] = [];
    for (let i = 0; i < 30; i++) {
      const headers: Headers = [
        [':method', i % 3 ? 'POST' : 'GET'],
        [':scheme', 'http'],
        [':path', `/svc/${i % 5}`],
        [':authority', 'a.example'],
        ['x-request-id', `req-${i}-${'0123456789abcdef'.repeat(4)}`],
        ['x-big', String.fromCharCode(0x21 + (i % 90)).repeat(900 + i)], // > 4096 after a few: evictions
        ['x-odd', '{}[]^~|\\<>`'.repeat(3)], // long Huffman codes: nghttp2 sends these raw
      ];
      sent.push(headers);
      await request(headers);
    }
    expect(errors).toEqual([]);
    expect(captured.map((c) => sorted(c.headers))).toEqual(sent.map(sorted));
  });

  it('follows the client when we announce a smaller SETTINGS_HEADER_TABLE_SIZE', async () => {
    const { captured, errors, request } = await rawServer({
      settings: [[SETTING.HEADER_TABLE_SIZE, 256]],
      decoder: () => new HpackDecoder({ maxTableSize: 256 }),
    });
    const sent: Headers[] = [];
    for (let i = 0; i < 6; i++) {
      const headers = grpcRequest(`host-${i}.example`, `${i}`.repeat(43));
      sent.push(headers);
      await request(headers);
    }
    expect(errors).toEqual([]);
    expect(captured.map((c) => sorted(c.headers))).toEqual(sent.map(sorted));
    // The client's encoder used the protocol's 4096 octets until it saw our SETTINGS, then said so.
    expect(captured[1].block.subarray(0, 3).toString('hex')).toBe('3fe101');
  });

  it('stays in step with requests the client encoded before it saw our smaller table size', async () => {
    const { captured, errors, request } = await rawServer({
      settings: [[SETTING.HEADER_TABLE_SIZE, 256]],
      holdSettingsFor: 3,
      decoder: () => new HpackDecoder({ maxTableSize: 256 }),
    });
    const sent = [0, 1, 2].map((i) => grpcRequest('host.example', `${i}`.repeat(43)));
    await Promise.all(sent.map((headers) => request(headers)));
    expect(errors).toEqual([]);
    // Streams may be answered in any order; compare the sets of header lists.
    const asSet = (lists: Headers[]) => lists.map((l) => JSON.stringify(sorted(l))).sort();
    expect(asSet(captured.map((c) => c.headers))).toEqual(asSet(sent));
  });
});

/**
 * A raw server that, once a connection's client has opened stream 1, answers it with `frames`
 * (after our SETTINGS and an ACK of the client's), whatever the request was.
 */
async function scriptedServer(frames: Buffer[]) {
  const server = net.createServer((socket) => {
    const reader = new FrameReader({ maxFrameSize: 16384, expectPreface: true });
    socket.on('error', () => undefined);
    socket.write(encodeSettings([[SETTING.MAX_CONCURRENT_STREAMS, 10]]));
    socket.on('data', (chunk: Buffer) => {
      for (const frame of reader.push(chunk)) {
        if (frame.type === FRAME.SETTINGS && !(frame.flags & FLAG.ACK)) socket.write(encodeSettingsAck());
        if (frame.type === FRAME.HEADERS && frame.streamId === 1) socket.write(Buffer.concat(frames));
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const client = http2.connect(`http://127.0.0.1:${port}`, { maxHeaderListPairs: 2000, settings: { maxHeaderListSize: 1 << 20 } });
  cleanups.push(() => {
    client.destroy();
    server.close();
  });
  /** Opens stream 1 and collects what the client makes of our frames; rejects on any client error. */
  const read = () =>
    new Promise<{ headers: http2.IncomingHttpHeaders; data: Buffer; trailers: http2.IncomingHttpHeaders | undefined }>((resolve, reject) => {
      client.on('error', reject);
      const req = client.request({ ':method': 'POST', ':path': '/sessiontunnel.v1.TunnelService/Connect', 'content-type': 'application/grpc' });
      req.on('error', reject);
      const chunks: Buffer[] = [];
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders | undefined;
      req.on('response', (h) => (headers = h));
      req.on('trailers', (t) => (trailers = t));
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => resolve({ headers, data: Buffer.concat(chunks), trailers }));
      // A client that refuses our frames sends GOAWAY and closes the stream without an error event.
      req.on('close', () => reject(new Error(`stream closed before its end (rstCode ${req.rstCode})`)));
    });
  return { read };
}

/** Node's header object as a plain record (Object.entries leaves out its symbol keys). */
const fields = (h: http2.IncomingHttpHeaders) => Object.fromEntries(Object.entries(h));

// Random header lists Node accepts: lowercase token names that are not connection-specific, and
// values of visible ASCII, spaces and 0x80-0xff (latin1), trimmed.
const tokenChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789!#$%&\'*+-.^_`|~');
const name = fc.string({ unit: tokenChar, minLength: 1, maxLength: 20 }).filter((n) => !['te', 'connection', 'upgrade', 'host', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'http2-settings'].includes(n));
const valueChar = fc.oneof(fc.integer({ min: 0x21, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }), fc.constant(0x20)).map((c) => String.fromCharCode(c));
const value = fc.string({ unit: valueChar, maxLength: 300 }).map((v) => v.trim());
const randomHeaders = fc.uniqueArray(fc.tuple(name, value), { selector: ([n]) => n, maxLength: 12 });

describe('HpackDecoder reading a node:http2 client, property-based', () => {
  // Random header lists, several requests per connection so nghttp2's table evolves (inserts,
  // evictions, never-indexed fields), each decoded by one HpackDecoder per connection.
  it('decodes what random requests carried', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(randomHeaders, { minLength: 1, maxLength: 5 }), async (requests) => {
        const { captured, errors, request: send } = await rawServer();
        const sent: Headers[] = [];
        for (const extra of requests) {
          const headers: Headers = [[':method', 'POST'], [':scheme', 'http'], [':path', '/p'], [':authority', 'a'], ...extra];
          sent.push(headers);
          await send(headers);
        }
        expect(errors).toEqual([]);
        expect(captured.map((c) => sorted(c.headers))).toEqual(sent.map(sorted));
        for (const fn of cleanups.splice(0)) fn();
      }),
      { numRuns: 40 },
    );
  });
});

describe('encodeHeaderBlock read by a node:http2 client', () => {
  it('delivers response headers, DATA and trailers as we encoded them', async () => {
    const message = Buffer.concat([Buffer.from([0, 0, 0, 0, 5]), Buffer.from('hello')]); // one gRPC message
    const long = 'L'.repeat(10_000); // its length is a three-byte integer
    const { read } = await scriptedServer([
      encodeFrame(FRAME.HEADERS, FLAG.END_HEADERS, 1, encodeHeaderBlock([
        [':status', '200'],
        ['content-type', 'application/grpc'],
        ['grpc-accept-encoding', 'identity'],
        ['x-edge-127', 'e'.repeat(127)],
        ['x-long', long],
      ])),
      encodeFrame(FRAME.DATA, 0, 1, message),
      encodeFrame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, encodeHeaderBlock([
        ['grpc-status', '0'],
        ['grpc-message', 'all%20good'],
      ])),
    ]);
    const got = await read();
    expect(fields(got.headers)).toEqual({
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-accept-encoding': 'identity',
      'x-edge-127': 'e'.repeat(127),
      'x-long': long,
    });
    expect(got.data).toEqual(message);
    expect(fields(got.trailers!)).toEqual({ 'grpc-status': '0', 'grpc-message': 'all%20good' });
  });

  it('delivers random header lists as we encoded them', async () => {
    await fc.assert(
      fc.asyncProperty(randomHeaders.map((list) => list.filter(([n]) => n !== 'set-cookie' && n !== 'content-length')), async (list) => {
        const headers: Headers = [[':status', '200'], ...list];
        const frames = [encodeFrame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, encodeHeaderBlock(headers))];
        const got = await (await scriptedServer(frames)).read();
        expect(fields(got.headers)).toEqual(Object.fromEntries(headers.map(([k, v]) => [k, k === ':status' ? 200 : v])));
        for (const fn of cleanups.splice(0)) fn();
      }),
      { numRuns: 30 },
    );
  });

  it('accepts a block we split over HEADERS and CONTINUATION frames', async () => {
    const many: Array<[string, string]> = [[':status', '200']];
    for (let i = 0; i < 500; i++) many.push([`x-h${i}`, `${i}`.padEnd(60, '-')]);
    const block = encodeHeaderBlock(many);
    expect(block.length).toBeGreaterThan(2 * 16384);
    // END_STREAM belongs on the HEADERS frame; CONTINUATION has only END_HEADERS (RFC 9113 6.10).
    const frames = [encodeFrame(FRAME.HEADERS, FLAG.END_STREAM, 1, block.subarray(0, 16384))];
    frames.push(encodeFrame(FRAME.CONTINUATION, 0, 1, block.subarray(16384, 32768)));
    frames.push(encodeFrame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, block.subarray(32768)));
    const got = await (await scriptedServer(frames)).read();
    expect(fields(got.headers)).toEqual(Object.fromEntries(many.map(([k, v]) => [k, k === ':status' ? 200 : v])));
  });
});
