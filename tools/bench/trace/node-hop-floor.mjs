// The floor of a Node.js hop at c=1 on this machine: a bare node:http server, then the same behind one
// and two plain TCP pipe processes (net.Socket.pipe, TCP_NODELAY). What a pipe process costs per
// request (CPU and added p50) is what any Node process in the path costs before it does any work of
// its own: compare with st-server's and st-agent's CPU per request (c1-cpu-probe.mjs).
//   node tools/bench/trace/node-hop-floor.mjs
import net from 'node:net';
import http from 'node:http';
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
const role = process.argv[2];
if (role === 'echo') {
  const s = http.createServer((req, res) => { req.resume(); req.on('end', () => { const b = '{"id":"x","object":"chat.completion","choices":[{"message":{"role":"assistant","content":"hello there"}}]}'; res.writeHead(200, { 'content-type': 'application/json', 'content-length': b.length }); res.end(b); }); });
  s.listen(0, '127.0.0.1', () => process.send(s.address().port));
} else if (role === 'proxy') {
  const up = Number(process.argv[3]);
  const s = net.createServer((c) => { c.setNoDelay(true); const u = net.connect(up, '127.0.0.1'); u.setNoDelay(true); c.pipe(u); u.pipe(c); });
  s.listen(0, '127.0.0.1', () => process.send(s.address().port));
} else {
  const cpu = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) * 10; };
  const start = (args) => new Promise((r) => { const c = fork(new URL(import.meta.url).pathname, args); c.once('message', (p) => r([c, p])); });
  const [echo, ep] = await start(['echo']);
  const [p1, pp1] = await start(['proxy', String(ep)]);
  const [p2, pp2] = await start(['proxy', String(pp1)]);
  const { Pool } = await import('undici');
  for (const [label, port] of [['direct', ep], ['1 proxy', pp1], ['2 proxies', pp2]]) {
    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 1 });
    const one = () => pool.request({ path: '/', method: 'POST', body: '{"a":1}' }).then((r) => r.body.text());
    for (let i = 0; i < 2000; i++) await one();
    const pids = [echo.pid, p1.pid, p2.pid];
    const a = pids.map(cpu);
    const n = 10000; const lat = [];
    const t0 = performance.now();
    for (let i = 0; i < n; i++) { const t = performance.now(); await one(); lat.push(performance.now() - t); }
    const wall = performance.now() - t0;
    const b = pids.map(cpu);
    lat.sort((x, y) => x - y);
    console.log(`${label}: p50 ${(lat[n >> 1] * 1000).toFixed(0)} µs, wall/req ${((wall / n) * 1000).toFixed(0)} µs, cpu/req echo ${((b[0] - a[0]) * 1000 / n).toFixed(0)} p1 ${((b[1] - a[1]) * 1000 / n).toFixed(0)} p2 ${((b[2] - a[2]) * 1000 / n).toFixed(0)} µs`);
    await pool.close();
  }
  for (const c of [echo, p1, p2]) c.kill();
}
