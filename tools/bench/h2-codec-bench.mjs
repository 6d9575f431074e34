#!/usr/bin/env node
// Micro-benchmark of the light HTTP/2 server's codec (libs/grpc-kit/src/h2): HPACK-decoding the
// header blocks a real node:http2 (nghttp2) client sends for a gRPC TunnelService/Connect call,
// encoding our response headers and trailers, and splitting frames. Not a test and not timed in
// CI: wall-clock on a shared machine is noisy, so it prints the best of several rounds, and
// `--only <case> --iterations <n>` lets you count instructions instead, e.g.
//   valgrind --tool=callgrind node tools/bench/h2-codec-bench.mjs --only decode-first --iterations 2000
// run at two iteration counts: the difference in Ir over the difference in n is instructions/op.
//
// Usage: node --expose-gc tools/bench/h2-codec-bench.mjs [--only <case>] [--iterations <n>] [--rounds <r>]
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const { values: args } = parseArgs({
  options: {
    only: { type: 'string' },
    iterations: { type: 'string' },
    rounds: { type: 'string', default: '7' },
    // --bundle-to <file>: write the bundled codec there and exit; --bundle <file>: use that one,
    // so that runs compared by instruction counts run the very same code.
    'bundle-to': { type: 'string' },
    bundle: { type: 'string' },
  },
});

// The codec is TypeScript; bundle it into an ES module (it has no dependencies).
async function bundle(outfile) {
  await build({ entryPoints: [join(root, 'libs/grpc-kit/src/h2/index.ts')], bundle: true, platform: 'node', format: 'esm', outfile, logLevel: 'error' });
}
if (args['bundle-to']) {
  await bundle(resolve(args['bundle-to']));
  process.exit(0);
}
let h2;
if (args.bundle) {
  h2 = await import(pathToFileURL(resolve(args.bundle)).href);
} else {
  const dir = mkdtempSync(join(tmpdir(), 'h2-codec-bench-'));
  await bundle(join(dir, 'h2.mjs'));
  h2 = await import(pathToFileURL(join(dir, 'h2.mjs')).href);
  rmSync(dir, { recursive: true, force: true });
}

const TOKEN = 'Zq3v8Kp1xW0nB7cR5tY2uJ9mE4aH6sD1fG8kL3oP0qZ'; // 43 chars, like a base64url 32-byte token
const GRPC_REQUEST = {
  ':method': 'POST',
  ':scheme': 'http',
  ':path': '/sessiontunnel.v1.TunnelService/Connect',
  ':authority': 'broker.sessions.example.com:8443',
  'content-type': 'application/grpc',
  te: 'trailers',
  'user-agent': 'grpc-node-js/1.14.3',
  'grpc-accept-encoding': 'identity,deflate,gzip',
  authorization: `Bearer ${TOKEN}`,
};

/** The first two request header blocks of one node:http2 connection, as nghttp2 encodes them. */
async function captureBlocks() {
  const blocks = [];
  const server = net.createServer((socket) => {
    const reader = new h2.FrameReader({ maxFrameSize: 16384, expectPreface: true });
    socket.write(h2.encodeSettings([]));
    socket.on('data', (chunk) => {
      for (const f of reader.push(chunk)) {
        if (f.type === h2.FRAME.SETTINGS && !(f.flags & h2.FLAG.ACK)) socket.write(h2.encodeSettingsAck());
        if (f.type !== h2.FRAME.HEADERS) continue;
        blocks.push(Buffer.from(h2.headersBlockOf(f)));
        socket.write(h2.encodeFrame(h2.FRAME.HEADERS, h2.FLAG.END_HEADERS | h2.FLAG.END_STREAM, f.streamId, h2.encodeHeaderBlock([[':status', '200']])));
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = http2.connect(`http://127.0.0.1:${server.address().port}`);
  for (let i = 0; i < 2; i++) {
    const req = client.request(GRPC_REQUEST, { endStream: true });
    req.resume();
    await once(req, 'close');
  }
  client.close();
  server.close();
  return blocks;
}

const [first, second] = await captureBlocks();
const warm = new h2.HpackDecoder();
warm.decode(first);

const responseHeaders = [[':status', '200'], ['content-type', 'application/grpc'], ['grpc-accept-encoding', 'identity,deflate,gzip'], ['grpc-encoding', 'identity']];
const trailers = [['grpc-status', '0'], ['grpc-message', '']];
const message = Buffer.alloc(200, 1);
const chunk = Buffer.concat([
  h2.encodeFrame(h2.FRAME.HEADERS, h2.FLAG.END_HEADERS, 1, first),
  h2.encodeFrame(h2.FRAME.DATA, 0, 1, message),
  h2.encodeWindowUpdate(0, 65535),
  h2.encodePing(false, Buffer.alloc(8)),
]);
const reader = new h2.FrameReader({ maxFrameSize: 16384, expectPreface: false });

let sink = 0;
const cases = {
  /** A connection's first request: every literal Huffman-decoded and inserted into a new table. */
  'decode-first': () => (sink += new h2.HpackDecoder().decode(first).headers.length),
  /** A later request on the same connection: mostly indexed from the dynamic table. */
  'decode-indexed': () => (sink += warm.decode(second).headers.length),
  'encode-response-headers': () => (sink += h2.encodeHeaderBlock(responseHeaders).length),
  'encode-trailers': () => (sink += h2.encodeHeaderBlock(trailers).length),
  /** HEADERS + DATA + WINDOW_UPDATE + PING in one chunk, as views. */
  'frame-reader-4-frames': () => (sink += reader.push(chunk).length),
};

/** Heap kept per connection by its decoder after the first request (run with --expose-gc). */
function decoderHeapBytes(connections) {
  if (!globalThis.gc) return undefined;
  globalThis.gc();
  const before = process.memoryUsage().heapUsed;
  const decoders = [];
  for (let i = 0; i < connections; i++) {
    const d = new h2.HpackDecoder();
    d.decode(first);
    decoders.push(d);
  }
  globalThis.gc();
  const bytes = (process.memoryUsage().heapUsed - before) / connections;
  return decoders.length ? bytes : 0;
}

const iterations = Number(args.iterations ?? 200_000);
const rounds = Number(args.rounds);
console.log(`first block ${first.length} bytes, second ${second.length} bytes (nghttp2, node ${process.version})`);
for (const [name, fn] of Object.entries(cases)) {
  if (args.only && args.only !== name) continue;
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) fn();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / iterations);
  }
  console.log(`${name.padEnd(26)} ${best.toFixed(0).padStart(6)} ns/op (best of ${rounds} x ${iterations})`);
}
if (!args.only) {
  const perConnection = decoderHeapBytes(10_000);
  console.log(perConnection === undefined ? 'heap per connection decoder: run with node --expose-gc' : `heap per connection decoder after its first request: ${perConnection.toFixed(0)} bytes (10,000 decoders)`);
}
if (sink === 0) console.log('');
