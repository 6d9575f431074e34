// The 10k section's first phase (issue 9): 10,000 concurrent streamed answers (40 tokens, 50 ms
// apart) straight from the mock model server, then the same 10,000 through one st-agent, then
// through OpenSSH's `ssh -R` (sshd → one SSH connection → ssh → mock), in one run. Target: the
// tunnel's wall time within 1.1× the direct one; ssh -R is the reference (informative). Also
// reports time to first token, CPU of each process and the peak RSS of each relay's processes.
import { fork } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CpuMeter } from './cpu-meter.mjs';
import { report as profileReport, summarise as summariseProfile } from './cpuprofile.mjs';
import { descendants, memoryOf, treeCpuMs } from './procs.mjs';
import { startSshTunnel } from './ssh-tunnel.mjs';
import { startMock, startTunnel } from './stack.mjs';
import { fmt, fmtBytes, fmtRatio, ratio, table } from './stats.mjs';
import { listenDrops, openFileLimit, serverLimits, waitForFewFds } from './streams-limits.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
export const TARGET_RATIO = 1.1;
const TOKENS = 40;
const TOKEN_DELAY_MS = 50;
const PATHS = ['direct', 'tunnel', 'ssh'];
const LABELS = { direct: 'direct', tunnel: 'tunnel', ssh: 'ssh -R' };

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

/**
 * One run of `count` answers against `target`, with the CPU each named process (and its
 * descendants: sshd's session processes) used meanwhile. First waits until the mock holds few
 * sockets (the last run's idle keep-alive ones close within its 5 s keep-alive).
 */
async function measure(ctx, rpc, target, count, pids) {
  const drained = await waitForFewFds(pids.mock, 2000, 20_000);
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, treeCpuMs([pid])]));
  const drops = listenDrops();
  const snap = ctx.meter.snapshot();
  const res = await rpc({ ...target, count, maxTokens: TOKENS }, 180_000);
  const foreign = CpuMeter.delta(snap, ctx.meter.snapshot()).foreignCores;
  const cpuMs = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, treeCpuMs([pid]) - before[name]]));
  const after = listenDrops();
  return { ...res, cpuMs, foreignCores: foreign, listenDrops: drops === undefined || after === undefined ? undefined : after - drops, drainedMs: drained.waitedMs };
}

/** sshd and ssh -R to the mock, or why not (BENCH_NO_SSH=1, no OpenSSH, not root). */
async function startSsh(procs, mock, log) {
  if (process.env.BENCH_NO_SSH === '1') return { why: 'skipped (BENCH_NO_SSH=1)' };
  try {
    const ssh = await startSshTunnel(procs, mock.port, { log });
    log(`ssh -R tunnel: 127.0.0.1:${ssh.port} → sshd → ssh → ${mock.url}`);
    return { ssh };
  } catch (err) {
    log(`10k streams: ssh -R column unavailable: ${err.message}`);
    return { why: err.message };
  }
}

/** sshd's peak RSS summed over itself and its session processes (as the core section), and ssh's. */
function sshMemory(ssh) {
  const sshdPids = [ssh.sshd.child.pid, ...descendants(ssh.sshd.child.pid)];
  return { sshd: { hwm: sshdPids.reduce((sum, pid) => sum + (memoryOf(pid).hwm ?? 0), 0) }, ssh: memoryOf(ssh.ssh.child.pid) };
}

export async function run(ctx) {
  const { procs, root, log, quick } = ctx;
  const count = Number(process.env.BENCH_STREAMS) || (quick ? 1000 : 10_000);
  log(`10k section: ${count} concurrent streamed answers (${TOKENS} tokens, ${TOKEN_DELAY_MS} ms apart), direct, through one agent, through ssh -R`);
  const mock = await startMock(procs, root, { tokenDelayMs: TOKEN_DELAY_MS });
  // BENCH_STREAMS_PROFILE=1: st-server and st-agent under --cpu-prof, summarised for the tunnel run.
  const profileDir = process.env.BENCH_STREAMS_PROFILE === '1' ? procs.tmpDir('streams-profile') : undefined;
  const nodeArgsFor = (name) => (profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, name)}`, '--cpu-prof-interval=500'] : []);
  const tunnel = await startTunnel(procs, root, mock.url, { serverEnv: serverLimits(count), nodeArgsFor });
  const { ssh, why: sshWhy } = await startSsh(procs, mock, log);
  const { entry: load, rpc } = startLoad(procs);
  const pids = { server: tunnel.server.child.pid, agent: tunnel.agent.child.pid, mock: mock.entry.child.pid, load: load.child.pid };
  const targets = { direct: { origin: mock.url }, tunnel: { origin: tunnel.gateway, prefix: tunnel.prefix, headers: tunnel.headers } };
  const runPids = { direct: { mock: pids.mock, load: pids.load }, tunnel: pids };
  if (ssh) {
    targets.ssh = { origin: `http://127.0.0.1:${ssh.port}` };
    runPids.ssh = { sshd: ssh.sshd.child.pid, ssh: ssh.ssh.child.pid, mock: pids.mock, load: pids.load };
  }
  const paths = PATHS.filter((p) => targets[p]);
  // Warm-up on every path (JIT, the agent's first upstream connections, sshd's session), not measured.
  const warm = Math.min(500, count);
  for (const path of paths) {
    const w = await rpc({ ...targets[path], count: warm, maxTokens: TOKENS }, 60_000);
    if (w.failures > 0) throw new Error(`10k section: the warm-up of ${warm} answers (${LABELS[path]}) failed ${w.failures} times (${w.firstError})`);
  }
  // Each process holds one socket per answer: say so before a run fails with EMFILE instead. For
  // ssh -R the sshd session processes (descendants of the listener, there since ssh logged in) and ssh.
  const limits = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, openFileLimit(pid)]));
  if (ssh) {
    const session = descendants(ssh.sshd.child.pid).map(openFileLimit).filter(Number.isFinite);
    limits['sshd session'] = session.length > 0 ? Math.min(...session) : undefined;
    limits.ssh = openFileLimit(ssh.ssh.child.pid);
  }
  const short = Object.entries(limits).filter(([, n]) => n !== undefined && n < count + 1000);
  if (short.length > 0) log(`⚠ open-file limits below ${count + 1000}: ${short.map(([n, v]) => `${n} ${v}`).join(', ')} (raise ulimit -n)`);

  const quiet = await ctx.waitForQuiet();
  const figures = { count, tokens: TOKENS, tokenDelayMs: TOKEN_DELAY_MS, paths, sshWhy, limits, quiet };
  // Order direct, tunnel, ssh -R: the target's two runs stay back to back as before this column
  // (comparable with earlier reports); ssh -R, the informative reference, comes last.
  let window;
  for (const path of paths) {
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    figures[path] = await measure(ctx, rpc, targets[path], count, runPids[path]);
    if (path === 'tunnel') window = { fromUs, toUs: Number(process.hrtime.bigint() / 1000n) };
    log(`${LABELS[path]}: ${figures[path].ok}/${count} whole in ${fmt(figures[path].wallMs / 1000, 1)} s`);
  }
  figures.memory = { server: memoryOf(pids.server), agent: memoryOf(pids.agent), ...(ssh ? sshMemory(ssh) : {}) };
  figures.ratio = ratio(figures.tunnel.wallMs, figures.direct.wallMs);
  figures.sshRatio = ratio(figures.ssh?.wallMs, figures.direct.wallMs);
  figures.tunnelVsSsh = ratio(figures.tunnel.wallMs, figures.ssh?.wallMs);
  await procs.stop(load, 2000);
  if (profileDir) figures.profiles = await profiles(procs, tunnel, profileDir, { ...window, requests: count });
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

/** tunnel/direct, ssh/direct, tunnel/ssh of one figure: `cmp(a, b)` formats a against b. */
function vs(f, key, cmp) {
  const v = (p) => f[p]?.[key];
  return [cmp(v('tunnel'), v('direct')), f.ssh ? cmp(v('ssh'), v('direct')) : 'n/a', f.ssh ? cmp(v('tunnel'), v('ssh')) : 'n/a'];
}

export function render(f) {
  const paths = f.paths ?? ['direct', 'tunnel'];
  const runs = PATHS.map((p) => f[p]);
  const s = (ms) => fmt(ms / 1000, 2);
  const cpuS = (run, name) => (run?.cpuMs?.[name] === undefined ? '–' : fmt(run.cpuMs[name] / 1000, 1));
  const each = (cell) => runs.map((run) => (run ? cell(run) : 'n/a'));
  const times = (a, b) => fmtRatio(ratio(a, b));
  const plus = (a, b) => (Number.isFinite(a) && Number.isFinite(b) ? `${a >= b ? '+' : '−'}${fmt(Math.abs(a - b), 1)} ms` : 'n/a');
  const relayMs = (run) => (run?.cpuMs ? (run.cpuMs.server ?? run.cpuMs.sshd ?? 0) + (run.cpuMs.agent ?? run.cpuMs.ssh ?? 0) : undefined);
  const relay = { tunnel: relayMs(f.tunnel), ssh: relayMs(f.ssh) };
  const rows = [
    ['answers whole / sent', ...each((r) => `${r.ok} / ${f.count}`), '', '', ''],
    ['wall time until all complete (s)', ...each((r) => s(r.wallMs)), ...vs(f, 'wallMs', times)],
    ['time to first token p50 (ms)', ...each((r) => fmt(r.ttftP50, 1)), ...vs(f, 'ttftP50', plus)],
    ['time to first token p99 (ms)', ...each((r) => fmt(r.ttftP99, 1)), ...vs(f, 'ttftP99', plus)],
    ['answer duration p50 / p99 (s)', ...each((r) => `${s(r.durationP50)} / ${s(r.durationP99)}`), '', '', ''],
    [
      'CPU relay: st-server / st-agent, sshd (incl. session) / ssh (s)',
      '–',
      `${cpuS(f.tunnel, 'server')} / ${cpuS(f.tunnel, 'agent')}`,
      f.ssh ? `${cpuS(f.ssh, 'sshd')} / ${cpuS(f.ssh, 'ssh')}` : 'n/a',
      '',
      '',
      f.ssh ? `both: ${times(relay.tunnel, relay.ssh)}` : 'n/a',
    ],
    ['CPU mock / load process (s)', ...each((r) => `${cpuS(r, 'mock')} / ${cpuS(r, 'load')}`), '', '', ''],
    ['other jobs on the machine (avg cores)', ...each((r) => fmt(r.foreignCores, 2)), '', '', ''],
    ['listen-queue drops, whole machine (SYNs)', ...each((r) => fmt(r.listenDrops, 0)), '', '', ''],
  ];
  const failures = paths.filter((p) => f[p]?.failures > 0).map((p) => `${LABELS[p]}: ${f[p].failures} failed (first: ${f[p].firstError})`);
  const ok = f.ratio !== undefined && f.ratio <= TARGET_RATIO && f.tunnel.failures === 0;
  const m = f.memory;
  const sshRss = m.sshd ? `, sshd (incl. session processes) ${fmtBytes(m.sshd.hwm)}, ssh ${fmtBytes(m.ssh?.hwm)}` : '';
  const sshLine = f.ssh
    ? `compared with ssh -R (informative): ssh -R/direct ${fmtRatio(f.sshRatio)}, tunnel/ssh -R ${fmtRatio(f.tunnelVsSsh)}${f.ssh.failures > 0 ? ` (ssh -R completed ${f.ssh.ok} of ${f.count})` : ''}`
    : `ssh -R column: n/a: ${f.sshWhy ?? 'not measured'}`;
  return [
    '',
    `${f.count.toLocaleString('en-US')} concurrent streamed answers over one agent (${f.tokens} tokens, ${f.tokenDelayMs} ms apart; each checked whole; run in the order direct, tunnel, ssh -R)`,
    '',
    table(['', 'direct', 'tunnel', 'ssh -R', 'tunnel/direct', 'ssh/direct', 'tunnel/ssh'], rows),
    '',
    `peak RSS: st-server ${fmtBytes(m.server.hwm)}, st-agent ${fmtBytes(m.agent.hwm)}${sshRss}`,
    `open-file limits: ${Object.entries(f.limits ?? {}).map(([name, n]) => `${name} ${n ?? 'n/a'}`).join(', ')}`,
    `target: all complete within ${TARGET_RATIO}× the direct time: ${ok ? '✓' : '✗'} (${fmtRatio(f.ratio)})`,
    sshLine,
    ...failures,
    ...(f.quiet ? [`⚠ ${f.quiet}`] : []),
    ...(f.profiles ?? []).map((p) => `\n${p}`),
    '',
  ].join('\n');
}
