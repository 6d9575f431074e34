// The 10k section's first phase (issue 9): 10,000 concurrent streamed answers (40 tokens, 50 ms
// apart) straight from the mock model server, then the same 10,000 through one st-agent, in one
// run. Target: the tunnel's wall time within 1.1× the direct one. Also reports time to first
// token, CPU of each process and the peak RSS of st-server and st-agent.
import { fork } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CpuMeter } from './cpu-meter.mjs';
import { report as profileReport, summarise as summariseProfile } from './cpuprofile.mjs';
import { memoryOf, treeCpuMs } from './procs.mjs';
import { startMock, startTunnel } from './stack.mjs';
import { fmt, fmtBytes, fmtRatio, ratio, table } from './stats.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
export const TARGET_RATIO = 1.1;
const TOKENS = 40;
const TOKEN_DELAY_MS = 50;

/**
 * The hardening limits 10,000 callers of one user and one tunnel would hit, raised above what the
 * phase uses (not switched off: each check still runs): open HTTP connections, concurrent
 * requests per tunnel and per user, the user's request rate (bucket) and requests per connection.
 */
function serverLimits(count) {
  const room = String(2 * count + 100);
  return {
    ST_MAX_CONNECTIONS: room,
    ST_LIMIT_TUNNEL_CONCURRENCY: room,
    ST_LIMIT_USER_CONCURRENCY: room,
    ST_LIMIT_USER_RPS: String(count),
    ST_LIMIT_USER_BURST: room,
    ST_MAX_REQUESTS_PER_CONNECTION: '0',
  };
}

/** The soft limit of open files of a live process (from /proc/<pid>/limits). */
function openFileLimit(pid) {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The load process: a child of its own, so that its 10,000 sockets and its CPU are not the bench's. */
function startLoad(procs) {
  const child = fork(join(HERE, 'streams-load.mjs'), [], {
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: [],
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS')),
  });
  const entry = procs.adopt('streams-load', child);
  let nextId = 1;
  const rpc = (args, timeoutMs) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => done(new Error(`the streams load took longer than ${timeoutMs} ms`)), timeoutMs);
      const onMessage = (msg) => {
        if (msg.id !== id) return;
        if (msg.ok) done(undefined, msg.result);
        else done(new Error(`streams load: ${msg.error}`));
      };
      const onExit = (code, signal) => done(new Error(`the streams load process exited (code ${code}, signal ${signal})`));
      const done = (err, result) => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        if (err) reject(err);
        else resolve(result);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send({ id, ...args });
    });
  return { entry, rpc };
}

/** One run of `count` answers against `target`, with the CPU each named process used meanwhile. */
async function measure(ctx, rpc, target, count, pids) {
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, treeCpuMs([pid])]));
  const snap = ctx.meter.snapshot();
  const res = await rpc({ ...target, count, maxTokens: TOKENS }, 180_000);
  const foreign = CpuMeter.delta(snap, ctx.meter.snapshot()).foreignCores;
  const cpuMs = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, treeCpuMs([pid]) - before[name]]));
  return { ...res, cpuMs, foreignCores: foreign };
}

export async function run(ctx) {
  const { procs, root, log, quick } = ctx;
  const count = Number(process.env.BENCH_STREAMS) || (quick ? 1000 : 10_000);
  log(`10k section: ${count} concurrent streamed answers (${TOKENS} tokens, ${TOKEN_DELAY_MS} ms apart), direct then through one agent`);
  const mock = await startMock(procs, root, { tokenDelayMs: TOKEN_DELAY_MS });
  // BENCH_STREAMS_PROFILE=1: st-server and st-agent under --cpu-prof, summarised for the tunnel run.
  const profileDir = process.env.BENCH_STREAMS_PROFILE === '1' ? procs.tmpDir('streams-profile') : undefined;
  const nodeArgsFor = (name) => (profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, name)}`, '--cpu-prof-interval=500'] : []);
  const tunnel = await startTunnel(procs, root, mock.url, { serverEnv: serverLimits(count), nodeArgsFor });
  const { entry: load, rpc } = startLoad(procs);
  const pids = { server: tunnel.server.child.pid, agent: tunnel.agent.child.pid, mock: mock.entry.child.pid, load: load.child.pid };
  // Each process holds one socket per answer (the mock up to two sets, while the other path's
  // keep-alive sockets are still closing): say so before the run fails with EMFILE instead.
  const limits = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, openFileLimit(pid)]));
  const short = Object.entries(limits).filter(([, n]) => n !== undefined && n < count + 1000);
  if (short.length > 0) log(`⚠ open-file limits below ${count + 1000}: ${short.map(([n, v]) => `${n} ${v}`).join(', ')} (raise ulimit -n)`);

  const direct = { origin: mock.url };
  const viaTunnel = { origin: tunnel.gateway, prefix: tunnel.prefix, headers: tunnel.headers };
  // Warm-up on both paths (JIT, the agent's first upstream connections), not measured.
  const warm = Math.min(500, count);
  for (const target of [direct, viaTunnel]) {
    const w = await rpc({ ...target, count: warm, maxTokens: TOKENS }, 60_000);
    if (w.failures > 0) throw new Error(`10k section: the warm-up of ${warm} answers failed ${w.failures} times (${w.firstError})`);
  }
  const quiet = await ctx.waitForQuiet();
  const figures = { count, tokens: TOKENS, tokenDelayMs: TOKEN_DELAY_MS, limits, quiet };
  figures.direct = await measure(ctx, rpc, direct, count, { mock: pids.mock, load: pids.load });
  log(`direct: ${figures.direct.ok}/${count} whole in ${fmt(figures.direct.wallMs / 1000, 1)} s`);
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  figures.tunnel = await measure(ctx, rpc, viaTunnel, count, pids);
  const toUs = Number(process.hrtime.bigint() / 1000n);
  log(`tunnel: ${figures.tunnel.ok}/${count} whole in ${fmt(figures.tunnel.wallMs / 1000, 1)} s`);
  figures.memory = { server: memoryOf(pids.server), agent: memoryOf(pids.agent) };
  figures.ratio = ratio(figures.tunnel.wallMs, figures.direct.wallMs);
  await procs.stop(load, 2000);
  if (profileDir) figures.profiles = await profiles(procs, tunnel, profileDir, { fromUs, toUs, requests: count });
  return figures;
}

/** Stops st-agent and st-server gracefully (node writes the profiles then) and summarises the run's window. */
async function profiles(procs, tunnel, dir, { fromUs, toUs, requests }) {
  await procs.stop(tunnel.agent, 15_000);
  await procs.stop(tunnel.server, 15_000);
  const out = [];
  for (const name of ['st-server', 'st-agent']) {
    const files = readdirSync(join(dir, name)).filter((f) => f.endsWith('.cpuprofile'));
    if (files.length === 0) continue;
    const file = join(dir, name, files[0]);
    out.push(profileReport(summariseProfile(file, { fromUs, toUs }), { title: name, top: Number(process.env.BENCH_PROFILE_TOP) || 25, requests }));
  }
  return out;
}

export function render(f) {
  const d = f.direct;
  const t = f.tunnel;
  const s = (ms) => fmt(ms / 1000, 2);
  const cpuS = (run, name) => (run.cpuMs[name] === undefined ? '–' : fmt(run.cpuMs[name] / 1000, 1));
  const rows = [
    ['answers whole / sent', `${d.ok} / ${f.count}`, `${t.ok} / ${f.count}`, ''],
    ['wall time until all complete (s)', s(d.wallMs), s(t.wallMs), fmtRatio(f.ratio)],
    ['time to first token p50 (ms)', fmt(d.ttftP50, 1), fmt(t.ttftP50, 1), `+${fmt(t.ttftP50 - d.ttftP50, 1)} ms`],
    ['time to first token p99 (ms)', fmt(d.ttftP99, 1), fmt(t.ttftP99, 1), `+${fmt(t.ttftP99 - d.ttftP99, 1)} ms`],
    ['answer duration p50 / p99 (s)', `${s(d.durationP50)} / ${s(d.durationP99)}`, `${s(t.durationP50)} / ${s(t.durationP99)}`, ''],
    ['CPU st-server / st-agent (s)', '–', `${cpuS(t, 'server')} / ${cpuS(t, 'agent')}`, ''],
    ['CPU mock / load process (s)', `${cpuS(d, 'mock')} / ${cpuS(d, 'load')}`, `${cpuS(t, 'mock')} / ${cpuS(t, 'load')}`, ''],
    ['other jobs on the machine (avg cores)', fmt(d.foreignCores, 2), fmt(t.foreignCores, 2), ''],
  ];
  const failures = [d, t].filter((r) => r.failures > 0).map((r) => `${r === d ? 'direct' : 'tunnel'}: ${r.failures} failed (first: ${r.firstError})`);
  const ok = f.ratio !== undefined && f.ratio <= TARGET_RATIO && t.failures === 0;
  return [
    '',
    `${f.count.toLocaleString('en-US')} concurrent streamed answers over one agent (${f.tokens} tokens, ${f.tokenDelayMs} ms apart; each checked whole)`,
    '',
    table(['', 'direct', 'tunnel', 'tunnel/direct'], rows),
    '',
    `peak RSS: st-server ${fmtBytes(f.memory.server.hwm)}, st-agent ${fmtBytes(f.memory.agent.hwm)}`,
    `target: all complete within ${TARGET_RATIO}× the direct time: ${ok ? '✓' : '✗'} (${fmtRatio(f.ratio)})`,
    ...failures,
    ...(f.quiet ? [`⚠ ${f.quiet}`] : []),
    ...(f.profiles ?? []).map((p) => `\n${p}`),
    '',
  ].join('\n');
}
