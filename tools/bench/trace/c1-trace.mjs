// Issue 9's c=1 critical path, hop by hop (see README.md): starts the mock, st-server and st-agent
// as the bench does, each with hop-trace.cjs preloaded (or --cpu-prof with PROF=<dir>), sends
// WARM + N small chat completions one at a time, and leaves each process's hop records of the N
// (and the client's send/done times) in HOP_DIR for hop-segments.mjs. DIRECT=1 also times the
// mock directly after each tunnel request; STRACE=1 counts each process's syscalls over the N.
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { ProcessSet } from '../lib/procs.mjs';
import { binPath, startTunnel } from '../lib/stack.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const N = Number(process.env.N || 2000);
const WARM = 300;
const dir = process.env.HOP_DIR || '/tmp/st-hop-trace';
const traced = !process.env.PROF;
const nodeArgs = process.env.PROF ? ['--cpu-prof', '--cpu-prof-interval', '50', '--cpu-prof-dir', process.env.PROF] : ['-r', join(here, 'hop-trace.cjs')];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });

const procs = new ProcessSet();
try {
  const mockEnv = { ...process.env, HOP_DIR: dir, ST_LOG_LEVEL: 'warn', ST_MOCK_PORT: '0', ST_MOCK_HOST: '127.0.0.1', ST_MOCK_TOKEN_DELAY_MS: '0', ST_MOCK_FIRST_TOKEN_DELAY_MS: '0', ST_MOCK_MAX_TOKENS: '16' };
  const mockEntry = procs.spawn('st-mock-model', process.execPath, [...nodeArgs, binPath(root, 'mock-model')], { cwd: root, env: mockEnv });
  const m = await procs.waitForLine(mockEntry, /st-mock-model listening on (http:\/\/127\.0\.0\.1:(\d+))/, 15_000);
  const mockUrl = m[1];
  const t = await startTunnel(procs, root, mockUrl, { nodeArgsFor: () => nodeArgs, serverEnv: { HOP_DIR: dir }, agentEnv: { HOP_DIR: dir } });
  console.log(`mock ${mockUrl} gateway ${t.gateway} grpc port ${t.grpcPort}`);
  const traced3 = [t.server, t.agent, mockEntry];
  const body = JSON.stringify({ model: 'mock-llama-3-8b', messages: [{ role: 'user', content: 'Say hello to the benchmark' }], max_tokens: 8, stream: false });
  const caller = (origin, path, headers) => {
    const pool = new Pool(origin, { connections: 1 });
    const one = () =>
      new Promise((resolve, reject) => {
        const t0 = process.hrtime.bigint();
        pool.dispatch({ path, method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body }, {
          onConnect() {},
          onHeaders: () => true,
          onData: () => true,
          onComplete: () => resolve([t0, process.hrtime.bigint()]),
          onError: reject,
        });
      });
    return { one, close: () => pool.close() };
  };
  const tunnel = caller(t.gateway, `${t.prefix}/v1/chat/completions`, t.headers);
  const direct = caller(mockUrl, '/v1/chat/completions', {});
  for (let i = 0; i < WARM; i++) await tunnel.one();
  // Each SIGUSR2 makes hop-trace.cjs write what it holds and start afresh: the warm-up goes to -1.
  if (traced) for (const e of traced3) e.child.kill('SIGUSR2');
  const straces = process.env.STRACE
    ? [['server', t.server], ['agent', t.agent]].map(([n, e]) => spawn('strace', ['-c', '-f', '-o', join(dir, `strace-${n}.txt`), '-p', String(e.child.pid)], { stdio: 'ignore' }))
    : [];
  await sleep(straces.length ? 1000 : 300);
  const spans = [];
  const directSpans = [];
  for (let i = 0; i < N; i++) {
    spans.push(await tunnel.one());
    if (process.env.DIRECT) directSpans.push(await direct.one());
  }
  for (const s of straces) s.kill('SIGINT');
  const p50 = (xs) => (xs.map(([a, b]) => Number(b - a) / 1e6).sort((a, b) => a - b)[xs.length >> 1]).toFixed(3);
  console.log(`window (µs, CLOCK_MONOTONIC) ${spans[0][0] / 1000n} ${spans[N - 1][1] / 1000n}`);
  console.log(`tunnel p50 ${p50(spans)} ms${directSpans.length ? `, direct p50 ${p50(directSpans)} ms` : ''}`);
  writeFileSync(join(dir, 'client.txt'), spans.map(([a, b]) => `${a} ${b}`).join('\n') + '\n');
  if (directSpans.length) writeFileSync(join(dir, 'direct.txt'), directSpans.map(([a, b]) => `${a} ${b}`).join('\n') + '\n');
  await tunnel.close();
  await direct.close();
  if (traced) for (const e of traced3) e.child.kill('SIGUSR2');
  await sleep(1500);
} finally {
  await procs.stopAll();
  procs.cleanupTmp();
}
