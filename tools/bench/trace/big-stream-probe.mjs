// The bench's 17 MB streamed answer, alone: direct and through the tunnel, interleaved, with the
// CPU of each process per MB (from /proc/<pid>/stat), to see which process holds the tunnel back.
//   node tools/bench/trace/big-stream-probe.mjs            7 runs per path, ~17 MB each
//   RUNS=n TOKENS=n                                         runs per path, tokens per answer
//   PROBE_SERVER_ENV='ST_USAGE=off' PROBE_AGENT_ENV='K=V …' more settings of st-server / st-agent
//   PROF=<dir>                                              st-server and st-agent under --cpu-prof
//   STRACE=1                                                syscall counts of st-server and st-agent (strace -c -f)
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { Pool } from 'undici';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { settingsOf } from '../lib/env-settings.mjs';
import { ProcessSet } from '../lib/procs.mjs';
import { startMock, startTunnel } from '../lib/stack.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const RUNS = Number(process.env.RUNS || 7);
const TOKENS = Number(process.env.TOKENS || 74_322);
const cpuMs = (pid) => {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) * 10, sys: Number(f[12]) * 10 };
};
const selfMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const procs = new ProcessSet();
try {
  const mock = await startMock(procs, root);
  const nodeArgs = process.env.PROF ? ['--cpu-prof', '--cpu-prof-interval', '200', '--cpu-prof-dir', process.env.PROF] : [];
  const t = await startTunnel(procs, root, mock.url, { nodeArgsFor: () => nodeArgs, serverEnv: settingsOf(process.env.PROBE_SERVER_ENV), agentEnv: settingsOf(process.env.PROBE_AGENT_ENV) });
  const pids = { mock: mock.entry.child.pid, server: t.server.child.pid, agent: t.agent.child.pid };
  const body = JSON.stringify({ model: 'mock-llama-3-8b', messages: [{ role: 'user', content: 'Tell me a long story' }], max_tokens: TOKENS, stream: true });
  const paths = {
    direct: { pool: new Pool(mock.url, { connections: 1 }), path: '/v1/chat/completions', headers: { 'content-type': 'application/json' } },
    tunnel: { pool: new Pool(t.gateway, { connections: 1 }), path: `${t.prefix}/v1/chat/completions`, headers: { ...t.headers, 'content-type': 'application/json' } },
  };
  const stream = ({ pool, path, headers }) =>
    new Promise((resolve, reject) => {
      let bytes = 0;
      pool.dispatch({ path, method: 'POST', headers, body }, {
        onConnect() {},
        onHeaders: () => true,
        onData: (chunk) => {
          bytes += chunk.length;
          return true;
        },
        onComplete: () => resolve(bytes),
        onError: reject,
      });
    });
  for (const p of Object.values(paths)) await stream(p);
  let tracers = [];
  if (process.env.STRACE) {
    tracers = ['server', 'agent'].map((k) => {
      const child = spawn('strace', ['-c', '-f', '-p', String(pids[k])], { stdio: ['ignore', 'ignore', 'pipe'] });
      let out = '';
      child.stderr.on('data', (d) => (out += d));
      return { k, child, done: new Promise((r) => child.on('exit', () => r(out))) };
    });
    await new Promise((r) => setTimeout(r, 500));
  }
  const rec = { direct: [], tunnel: [] };
  for (let i = 0; i < RUNS; i++) {
    for (const name of i % 2 ? ['tunnel', 'direct'] : ['direct', 'tunnel']) {
      const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuMs(pid)]));
      const self0 = selfMs();
      const t0 = performance.now();
      const bytes = await stream(paths[name]);
      const ms = performance.now() - t0;
      const mb = bytes / 1e6;
      const cpu = {};
      for (const [k, pid] of Object.entries(pids)) {
        const now = cpuMs(pid);
        cpu[k] = (now.user + now.sys - before[k].user - before[k].sys) / mb;
        cpu[`${k}Sys`] = (now.sys - before[k].sys) / mb;
      }
      cpu.client = (selfMs() - self0) / mb;
      rec[name].push({ ms, mbps: mb / (ms / 1000), mb, cpu });
    }
  }
  for (const tr of tracers) {
    tr.child.kill('SIGINT');
    console.log(`== strace -c ${tr.k}\n${(await tr.done).split('\n').slice(0, 16).join('\n')}`);
  }
  const line = (name) => {
    const r = rec[name];
    // Over all runs together: /proc's 10 ms ticks are 0.59 ms/MB of one 17 MB run, too coarse to compare settings.
    const mbs = r.reduce((s, x) => s + x.mb, 0);
    const whole = (k) => (r.reduce((s, x) => s + x.cpu[k] * x.mb, 0) / mbs).toFixed(2);
    const cpu = (k) => `${whole(k)}${r[0].cpu[`${k}Sys`] === undefined ? '' : ` (sys ${whole(`${k}Sys`)})`}`;
    return `${name.padEnd(6)} ${median(r.map((x) => x.mbps)).toFixed(1).padStart(6)} MB/s  ${median(r.map((x) => x.ms)).toFixed(0).padStart(4)} ms  ${r[0].mb.toFixed(1)} MB  CPU ms/MB: mock ${cpu('mock')}  st-server ${name === 'tunnel' ? cpu('server') : '-'}  st-agent ${name === 'tunnel' ? cpu('agent') : '-'}  client ${cpu('client')}`;
  };
  console.log(line('direct'));
  console.log(line('tunnel'));
  console.log(`tunnel/direct ${(median(rec.tunnel.map((x) => x.mbps)) / median(rec.direct.map((x) => x.mbps))).toFixed(3)}×  (${RUNS} runs per path; speed: median; CPU: all runs together)`);
  for (const p of Object.values(paths)) await p.pool.close();
} finally {
  await procs.stopAll();
  procs.cleanupTmp();
}
