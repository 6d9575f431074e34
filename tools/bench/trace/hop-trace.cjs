// Hop tracer, preloaded with `node -r` (see README.md): records process.hrtime.bigint() (CLOCK_MONOTONIC,
// one clock for every process of a machine) with a label at every `globalThis.__hop?.(label)` the
// temporary hop points (hop-points.patch) put on the path, and at every TCP socket write
// (_writeGeneric) and read (push) as w:/r:<localPort>><remotePort> with the byte count. Sockets
// consumed natively (node:http servers, node:http2 sessions) show no r:. Preallocated, so recording
// costs about a microsecond. SIGUSR2 writes <HOP_DIR>/<script>-<pid>-<n>.txt and starts afresh.
const net = require('node:net');
const fs = require('node:fs');
const path = require('node:path');
const N = 4_000_000;
const times = new BigInt64Array(N);
const labels = new Array(N);
const extra = new Int32Array(N);
let n = 0;
const hr = process.hrtime.bigint;
function hop(label, x = 0) { if (n < N) { times[n] = hr(); labels[n] = label; extra[n] = x; n++; } }
globalThis.__hop = hop;
function tag(s) {
  if (s.__hopTag === undefined) { if (!s.localPort) return '?'; s.__hopTag = `${s.localPort}>${s.remotePort}`; }
  return s.__hopTag;
}
const origWG = net.Socket.prototype._writeGeneric;
net.Socket.prototype._writeGeneric = function (writev, data, enc, cb) {
  let bytes = 0;
  if (writev) for (const c of data) bytes += c.chunk.length; else bytes = data.length;
  hop('w:' + tag(this), bytes);
  return origWG.call(this, writev, data, enc, cb);
};
const origPush = net.Socket.prototype.push;
net.Socket.prototype.push = function (chunk, enc) {
  if (chunk) hop('r:' + tag(this), chunk.length);
  return origPush.call(this, chunk, enc);
};
const name = path.basename(process.argv[1] || 'node').replace(/\.js$/, '');
const dir = process.env.HOP_DIR || '/tmp/st-hop-trace';
let seq = 0;
function dump() {
  fs.mkdirSync(dir, { recursive: true });
  const out = [];
  for (let i = 0; i < n; i++) out.push(`${times[i]} ${labels[i]} ${extra[i]}`);
  fs.writeFileSync(path.join(dir, `${name}-${process.pid}-${++seq}.txt`), out.join('\n') + '\n');
  n = 0;
}
process.on('SIGUSR2', dump);
process.on('exit', () => { if (n) dump(); });
