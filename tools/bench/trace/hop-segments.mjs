// Median time between consecutive hops of the c=1 critical path (see README.md). Reads what
// c1-trace.mjs left in a directory (argument; default /tmp/st-hop-trace): each process's hop
// records of the measured window (*-2.txt) and the client's send/done times (client.txt, or
// $CLIENT.txt: CLIENT=direct for the mock timed directly). For each request it takes the events of
// every process between its send and its done, in time order (CLOCK_MONOTONIC is one clock for all
// processes of a machine), groups requests by the sequence of hops they went through and prints,
// for the commonest sequences, the median gap before each hop and the running sum.
// Labels: S = st-server, A = st-agent, M = mock; w:/r: = socket write/read (localPort>remotePort).
import { readFileSync, readdirSync } from 'node:fs';
const dir = process.argv[2] || '/tmp/st-hop-trace';
const files = readdirSync(dir);
const pick = (p) => files.filter((f) => f.startsWith(p) && f.endsWith('-2.txt')).map((f) => `${dir}/${f}`)[0];
const load = (f, who) => readFileSync(f, 'utf8').trim().split('\n').map((l) => { const [t, label, x] = l.split(' '); return { t: BigInt(t), label: who + ':' + label.replace(/:\d+>\d+/, (m) => m), x: +x }; });
const client = readFileSync(`${dir}/${process.env.CLIENT || 'client'}.txt`, 'utf8').trim().split('\n').map((l) => l.split(' ').map(BigInt));
const ev = [...load(pick('st-server'), 'S'), ...load(pick('st-agent'), 'A'), ...(pick('st-mock') ? load(pick('st-mock'), 'M') : [])].sort((a, b) => (a.t < b.t ? -1 : 1));
// name sockets generically
const ports = JSON.parse(process.argv[3] || '{}'); // optional {"S:w:40001>": "S:w:grpc>"} renames
const rename = (l) => { for (const [k, v] of Object.entries(ports)) l = l.replace(k, v); return l; };
let j = 0; const seqCount = new Map(); const deltas = new Map(); const rel = new Map();
for (const [t0, t1] of client) {
  while (j < ev.length && ev[j].t < t0) j++;
  const inside = [];
  for (let k = j; k < ev.length && ev[k].t <= t1; k++) inside.push(ev[k]);
  const seq = ['C:send', ...inside.map((e) => rename(e.label)), 'C:done'];
  const ts = [t0, ...inside.map((e) => e.t), t1];
  const key = seq.join(' ');
  seqCount.set(key, (seqCount.get(key) || 0) + 1);
  if (!deltas.has(key)) deltas.set(key, seq.map(() => []));
  const d = deltas.get(key);
  for (let i = 0; i < seq.length; i++) d[i].push(i === 0 ? 0 : Number(ts[i] - ts[i - 1]) / 1000);
}
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
const top = [...seqCount.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3);
for (const [key, count] of top) {
  console.log(`--- ${count} requests with this sequence`);
  const seq = key.split(' '); const d = deltas.get(key); let cum = 0;
  for (let i = 0; i < seq.length; i++) { const m = med(d[i]); cum += m; console.log(`${seq[i].padEnd(28)} +${m.toFixed(1).padStart(7)} µs  cum ${cum.toFixed(0).padStart(5)}`); }
}
const all = client.map(([a, b]) => Number(b - a) / 1000); console.log('client median µs', med(all).toFixed(0), 'requests', client.length);
