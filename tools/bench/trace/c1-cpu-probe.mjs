// CPU of the mock, st-server and st-agent per thread (from /proc/<pid>/task/*/stat): idle, c=1,
// paced (200/s), c=8, as CPU time per request. Where c=1's cost goes when the same code is cheap at c=64.
//   node tools/bench/trace/c1-cpu-probe.mjs                  the four windows
//   ONLY_PACED=1                                             only a longer paced window
//   LOOP_S=25 [LOOP_C=1]                                     one loop of that many seconds (attach perf/strace to the printed pids)
//   PROF=<dir>                                               st-server and st-agent under --cpu-prof
//   NODE_ARGS='--perf-basic-prof'                            other node flags for both
//   PROBE_SERVER_ENV='ST_USAGE=off' PROBE_AGENT_ENV='K=V …'   more settings of st-server / st-agent
//   VG=st-server|st-agent BENCH_READY_MS=300000 WARM=600     that process under callgrind; instructions per
//                                                            thread in windows of 400 requests at c=1 and c=8
//                                                            (callgrind_control -z / -e), twice each
//   WARM=n VG_WINDOWS=1,1,1                                  requests before measuring (default 1000); the windows' concurrencies
//                                                            (0: idle as long as the window before, to subtract)
//   VG_N=400                                                 requests per window
//   VG_DUMP=1                                                a callgrind profile file per window
//   PROBE_STDOUT=<dir>                                       each child's stdout in <dir>/<name>.out (NODE_ARGS=--trace-gc: collections)
//   VG_ARGS='--separate-threads=yes'                         more callgrind options (a file per thread: -01 is main)
import { createWriteStream, readFileSync, readdirSync } from 'node:fs';
import { Pool } from 'undici';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { settingsOf } from '../lib/env-settings.mjs';
import { ProcessSet } from '../lib/procs.mjs';
import { binPath, startTunnel } from '../lib/stack.mjs';
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const threads = (pid) => {
  const out = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const name = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    out[`${tid}:${name}`] = Number(f[11]) + Number(f[12]);
  }
  return out;
};
const diff = (a, b) => Object.fromEntries(Object.keys(b).map((k) => [k, (b[k] - (a[k] ?? 0)) * 10]).filter(([, v]) => v > 0));
const procs = new ProcessSet();
if (process.env.VG) {
  const orig = procs.spawn.bind(procs);
  procs.spawn = (name, cmd, args, opts) => name === process.env.VG ? orig(name, 'valgrind', ['--tool=callgrind', ...(process.env.VG_ARGS ?? '').split(' ').filter(Boolean), `--callgrind-out-file=${process.env.VG_OUT_DIR || '/tmp/cg'}/${name}.%p`, cmd, ...args], opts) : orig(name, cmd, args, opts);
}
if (process.env.PROBE_STDOUT) {
  // Each child's stdout into <dir>/<name>.out (e.g. NODE_ARGS=--trace-gc, to count collections).
  const orig = procs.spawn.bind(procs);
  procs.spawn = (name, ...rest) => {
    const entry = orig(name, ...rest);
    const out = createWriteStream(join(process.env.PROBE_STDOUT, `${name}.out`));
    entry.child.stdout.on('data', (d) => out.write(d));
    return entry;
  };
}
const pids = {};
try {
  const mockEnv = { ...process.env, ST_LOG_LEVEL: 'warn', ST_MOCK_PORT: '0', ST_MOCK_HOST: '127.0.0.1', ST_MOCK_TOKEN_DELAY_MS: '0', ST_MOCK_FIRST_TOKEN_DELAY_MS: '0', ST_MOCK_MAX_TOKENS: '16' };
  const mockEntry = procs.spawn('st-mock-model', process.execPath, [binPath(root, 'mock-model')], { cwd: root, env: mockEnv });
  const m = await procs.waitForLine(mockEntry, /st-mock-model listening on (http:\/\/127\.0\.0\.1:(\d+))/, 15_000);
  const nodeArgs = process.env.PROF ? ['--cpu-prof', '--cpu-prof-interval', '100', '--cpu-prof-dir', process.env.PROF] : (process.env.NODE_ARGS ? process.env.NODE_ARGS.split(' ') : []);
  const t = await startTunnel(procs, root, m[1], { nodeArgsFor: () => nodeArgs, serverEnv: settingsOf(process.env.PROBE_SERVER_ENV), agentEnv: settingsOf(process.env.PROBE_AGENT_ENV) });
  pids.mock = mockEntry.child.pid;
  const body = JSON.stringify({ model: 'mock-llama-3-8b', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 8, stream: false });
  // One connection per concurrent request: on one, undici sends them one after another, and a
  // "c=8" window would be c=1 with a queue in the client.
  const concurrencies = [Number(process.env.LOOP_C || 1), ...(process.env.VG_WINDOWS || '1,8,1,8').split(',').map(Number), 8];
  const pool = new Pool(t.gateway, { connections: Math.max(...concurrencies) });
  const one = () => new Promise((resolve, reject) => pool.dispatch({ path: `${t.prefix}/v1/chat/completions`, method: 'POST', headers: { ...t.headers, 'content-type': 'application/json' }, body }, { onConnect() {}, onHeaders: () => true, onData: () => true, onComplete: resolve, onError: reject }));
  for (let i = 0; i < Number(process.env.WARM || 1000); i++) await one();
  Object.assign(pids, { server: t.server.child.pid, agent: t.agent.child.pid });
  const measure = async (label, fn, n) => {
    const a = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, threads(p)]));
    const t0 = performance.now();
    await fn();
    const ms = performance.now() - t0;
    for (const [k, p] of Object.entries(pids)) {
      const d = diff(a[k], threads(p));
      const tot = Object.values(d).reduce((x, y) => x + y, 0);
      console.log(`${label} ${k}: ${ms.toFixed(0)} ms wall, cpu ${tot} ms${n ? `, ${((tot * 1000) / n).toFixed(0)} µs/req` : ''}`, JSON.stringify(d));
    }
  };
  await measure('idle 3s', () => sleep(3000));
  if (process.env.LOOP_S) {
    console.log(`pids ${JSON.stringify(pids)}`);
    const c = Number(process.env.LOOP_C || 1);
    const end = Date.now() + Number(process.env.LOOP_S) * 1000;
    let n = 0;
    await measure(`loop c=${c}`, () => Promise.all(Array.from({ length: c }, async () => { while (Date.now() < end) { await one(); n++; } })), 0);
    console.log(`requests ${n}`);
  } else
  if (process.env.VG) {
    const { execFileSync } = await import('node:child_process');
    const pid = pids[process.env.VG === 'st-server' ? 'server' : 'agent'];
    const window = async (label, fn, n) => {
      execFileSync('callgrind_control', ['-z', String(pid)]);
      await fn();
      const out = execFileSync('callgrind_control', ['-e', String(pid)]).toString();
      console.log(label, out.replace(/\s+/g, ' '), n);
      // VG_DUMP=1: a profile file per window (callgrind_annotate it; the JIT's code shows as ???,
      // V8's builtins, its runtime and Node's C++ by name).
      if (process.env.VG_DUMP === '1') execFileSync('callgrind_control', [`--dump=${label}`, String(pid)]);
    };
    // A window of 0 is idle for as long as the window before it took: what timers and samplers
    // cost meanwhile, to subtract (under callgrind a window lasts seconds, and time-based work
    // would otherwise count as per-request work).
    let lastMs = 3000;
    const VG_N = Number(process.env.VG_N || 400);
    for (const c of (process.env.VG_WINDOWS || '1,8,1,8').split(',').map(Number)) {
      const t0 = performance.now();
      if (c === 0) await window(`idle ${Math.round(lastMs)} ms`, () => sleep(lastMs), VG_N);
      else await window(`c=${c}`, async () => { await Promise.all(Array.from({ length: c }, async () => { for (let i = 0; i < VG_N / c; i++) await one(); })); }, VG_N);
      if (c !== 0) lastMs = performance.now() - t0;
    }
  } else
  if (process.env.ONLY_PACED) { await measure('paced 200/s x1500', async () => { for (let i = 0; i < 1500; i++) { await one(); await sleep(5); } }, 1500); } else {
  await measure('c=1 x3000', async () => { for (let i = 0; i < 3000; i++) await one(); }, 3000);
  await measure('paced 200/s x600', async () => { for (let i = 0; i < 600; i++) { await one(); await sleep(5); } }, 600);
  await measure('c=8 x8000', async () => { await Promise.all(Array.from({ length: 8 }, async () => { for (let i = 0; i < 1000; i++) await one(); })); }, 8000);
  }
  await pool.close();
} finally {
  await procs.stopAll();
  procs.cleanupTmp();
}
