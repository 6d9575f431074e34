// Issue 9's far c=1, chunk by chunk (see README.md): the tunnel and ssh -R, each behind a delay
// proxy like lib/delay-proxy.mjs (25 ms each way, setTimeout per chunk) that logs every chunk's
// direction, size, arrival and departure. Sends N small chat completions one at a time on each path
// and prints the chunks per request in each direction, the proxy's own delay (median, min, max:
// whether it treats both columns alike) and the median of each leg: client → proxy, proxy down,
// far end (agent or ssh, with the mock), proxy up, proxy → client. TRACE=1 also preloads
// hop-trace.cjs into st-server and st-agent (hop-segments.mjs reads the tunnel's requests).
import net from 'node:net';
import { Pool } from 'undici';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessSet } from '../lib/procs.mjs';
import { startMock, startTunnel } from '../lib/stack.mjs';
import { startSshTunnel } from '../lib/ssh-tunnel.mjs';
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const hopDir = process.env.HOP_DIR || '/tmp/st-hop-trace';
const N = Number(process.env.N || 100);
const DELAY = 25;
const logs = {};
const hr = () => process.hrtime.bigint();
async function proxy(name, port) {
  const log = (logs[name] = []);
  const server = net.createServer((client) => {
    const up = net.connect({ host: '127.0.0.1', port });
    for (const s of [client, up]) { s.setNoDelay(true); s.on('error', () => { client.destroy(); up.destroy(); }); }
    const pipe = (from, to, dir) => from.on('data', (chunk) => {
      const at = hr();
      setTimeout(() => { log.push([dir, chunk.length, at, hr()]); to.write(chunk); }, DELAY);
    });
    pipe(client, up, 'up'); pipe(up, client, 'down');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return server.address().port;
}
const procs = new ProcessSet();
try {
  const mock = await startMock(procs, root);
  const trace = process.env.TRACE ? ['-r', join(here, 'hop-trace.cjs')] : [];
  const t = await startTunnel(procs, root, mock.url, { nodeArgsFor: () => trace, serverEnv: { HOP_DIR: hopDir }, agentEnv: { HOP_DIR: hopDir }, brokerAddressFor: async (p) => `127.0.0.1:${await proxy('tunnel', p)}` });
  const ssh = await startSshTunnel(procs, mock.port, { log: () => {}, timeoutMs: 20_000, dialPortFor: (p) => proxy('ssh', p) });
  const body = JSON.stringify({ model: 'mock-llama-3-8b', messages: [{ role: 'user', content: 'Say hello to the benchmark' }], max_tokens: 8, stream: false });
  const paths = { tunnel: [t.gateway, t.prefix, t.headers], ssh: [`http://127.0.0.1:${ssh.port}`, '', {}] };
  const res = {};
  for (const [name, [origin, prefix, headers]] of Object.entries(paths)) {
    const pool = new Pool(origin, { connections: 1 });
    const one = () => new Promise((resolve, reject) => {
      const t0 = hr();
      pool.dispatch({ path: prefix + '/v1/chat/completions', method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body }, {
        onConnect() {}, onHeaders() { return true; }, onData() { return true; }, onComplete() { resolve([t0, hr()]); }, onError: reject });
    });
    for (let i = 0; i < 20; i++) await one();
    await new Promise((r) => setTimeout(r, 300));
    logs[name].length = 0;
    if (name === 'tunnel' && process.env.TRACE) { for (const e of [t.server, t.agent]) e.child.kill('SIGUSR2'); await new Promise((r) => setTimeout(r, 300)); }
    const spans = [];
    for (let i = 0; i < N; i++) spans.push(await one());
    res[name] = spans;
    if (name === 'tunnel' && process.env.TRACE) { for (const e of [t.server, t.agent]) e.child.kill('SIGUSR2'); await new Promise((r) => setTimeout(r, 1000));
      (await import('node:fs')).writeFileSync(join(hopDir, 'client.txt'), spans.map(([a, b]) => `${a} ${b}`).join('\n') + '\n'); }
  }
  for (const [name, spans] of Object.entries(res)) {
    const log = logs[name];
    const ms = spans.map(([a, b]) => Number(b - a) / 1e6).sort((a, b) => a - b);
    const per = { up: 0, down: 0 }; const delays = [];
    const seqs = new Map();
    for (const [a, b] of spans) {
      const inside = log.filter((c) => c[2] >= a && c[2] <= b);
      const key = inside.map((c) => `${c[0]}:${c[1]}@${(Number(c[2] - a) / 1e6).toFixed(1)}`).join(' ');
      for (const c of inside) { per[c[0]]++; delays.push(Number(c[3] - c[2]) / 1e6); }
      const shape = inside.map((c) => `${c[0]}:${c[1]}`).join(' ');
      seqs.set(shape, (seqs.get(shape) || []).concat([key]));
    }
    delays.sort((x, y) => x - y);
    const segs = [[], [], [], [], []];
    for (const [a, b] of spans) {
      const inside = log.filter((c) => c[2] >= a && c[2] <= b);
      const d = inside.find((c) => c[0] === 'down'); const u = inside.findLast((c) => c[0] === 'up');
      if (!d || !u) continue;
      const v = [d[2] - a, d[3] - d[2], u[2] - d[3], u[3] - u[2], b - u[3]].map((x) => Number(x) / 1e6);
      v.forEach((x, i) => segs[i].push(x));
    }
    const m = (a) => a.sort((x, y) => x - y)[a.length >> 1].toFixed(3);
    console.log(`== ${name}: p50 ${ms[N >> 1].toFixed(2)} ms  chunks/request up ${(per.up / N).toFixed(2)} down ${(per.down / N).toFixed(2)}  proxy delay p50 ${delays[delays.length >> 1].toFixed(3)} min ${delays[0].toFixed(3)} max ${delays.at(-1).toFixed(3)}; chunks outside requests ${log.length - per.up - per.down}`);
    console.log(`   segments (median ms): client→proxy ${m(segs[0])} | proxy down ${m(segs[1])} | far end (agent/ssh ↔ mock) ${m(segs[2])} | proxy up ${m(segs[3])} | proxy→client ${m(segs[4])}`);
    for (const [shape, keys] of [...seqs.entries()].sort((x, y) => y[1].length - x[1].length).slice(0, 4)) console.log(`  ${keys.length}×  ${shape}   e.g. ${keys[0]}`);
  }
} finally { await procs.stopAll(); procs.cleanupTmp(); }
process.exit(0);
