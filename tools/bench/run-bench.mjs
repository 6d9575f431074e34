#!/usr/bin/env node
// `npm run bench`: one run, three ways to reach the same mock model server, side by side.
//   direct  client → mock model server
//   tunnel  client → st-server gateway → broker → gRPC stream → st-agent → mock
//   ssh -R  client → sshd (reverse-forwarded port) → SSH connection → ssh client → mock
// Measures small-request latency at c=1 and c=64, requests/s at c=64, time to the first token of a
// small streamed answer, SSE chunks/s of a 2,000-token answer and MB/s of a ~17 MB streamed answer,
// with CPU per request of each process in between; prints a table with ratios and the
// targets (✓/✗, informative only: the exit code is 0 whenever the bench itself ran).
//
// Environment:
//   BENCH_QUICK=1        smoke run with few requests (a few seconds of load)
//   BENCH_ROUNDS=n       interleaved rounds for the c=1 and c=64 phases (default 4 and 2; 1 when quick)
//   BENCH_QUIET_WAIT_S=n wait up to n s for other jobs to leave the CPUs idle first (default 60; 0 when quick)
//   BENCH_JSON=file      also write the figures as JSON
//   BENCH_NO_SSH=1       skip the ssh -R column
//   BENCH_PROFILE=c64|c1|stream|sse   profile the tunnel instead: st-server and st-agent run under
//                        --cpu-prof during that phase only, then the hot spots are printed
//   BENCH_PROFILE_TOP=n  functions listed per profile (default 25)
//   BENCH_SECTIONS=core,far,10k,observability,abuse,cli,scale  which sections run (default all): core = the three paths above,
//                        far = the same over a 50 ms round trip between agent and broker (and for ssh -R's
//                        connection; lib/sections/far.mjs), 10k = 10,000 concurrent streamed answers (direct, over one
//                        agent, over ssh -R) and 10,000 idle tunnels on one broker (lib/sections/ten-k.mjs),
//                        observability = the core tunnel figures with metrics and usage off and on,
//                        interleaved, against issue 10's 5 % (lib/sections/observability.mjs),
//                        abuse = another tenant's latency during each attack of issue 7 (lib/abuse.mjs),
//                        cli = stctl's start-up (lib/cli-startup.mjs), scale = split brokers/gateways/
//                        discovery on PostgreSQL and Redis: one broker vs three, kill -9, rolling restart
//                        (lib/scale.mjs; needs redis-server and the local PostgreSQL), profile = after the
//                        others, st-server and st-agent under --cpu-prof during c=64 and a stream, summarised
//                        (lib/profile-run.mjs; in the output and docs/benchmarks/latest.md)
//   BENCH_OBSERVABILITY_PAIRS=n  st-server + st-agent pairs per side in the observability section (default 3)
//   BENCH_OBSERVABILITY_AA=1     every tunnel of the observability section off: the noise between identical ones
//   BENCH_REPORT=file    write the report (and its chart, file.svg) even from a quick or partial run
//   BENCH_ATTACKS=a,b    only these attacks in the abuse section (names in lib/attacks/index.mjs)
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CpuMeter } from './lib/cpu-meter.mjs';
import { closedLoopPhase, streamPhase, ttftPhase } from './lib/phases.mjs';
import { ProcessSet, descendants, memoryOf } from './lib/procs.mjs';
import { renderAbuse, runAbuseSection } from './lib/abuse.mjs';
import { measureCliStartup, renderCliStartup } from './lib/cli-startup.mjs';
import { writeLatestReport } from './lib/latest-report.mjs';
import { startLoadgen as startLoadgenProcess } from './lib/worker-process.mjs';
import { PROFILE_PHASES, renderProfiles, runProfiles } from './lib/profile-run.mjs';
import { renderReport } from './lib/report.mjs';
import { renderScale, runScaleSection } from './lib/scale.mjs';
import { missingBuilds, startMock, startTunnel } from './lib/stack.mjs';
import { startSshTunnel } from './lib/ssh-tunnel.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const QUICK = process.env.BENCH_QUICK === '1';
const PROFILE = process.env.BENCH_PROFILE ? (process.env.BENCH_PROFILE === '1' ? 'c64' : process.env.BENCH_PROFILE) : undefined;
const ALL_SECTIONS = ['core', 'far', '10k', 'observability', 'abuse', 'cli', 'scale', 'profile'];
const SECTIONS = new Set((process.env.BENCH_SECTIONS || ALL_SECTIONS.join(',')).split(',').map((s) => s.trim()).filter(Boolean));
for (const s of SECTIONS) if (!ALL_SECTIONS.includes(s)) throw new Error(`BENCH_SECTIONS: no section named ${s} (${ALL_SECTIONS.join(', ')})`);
// Minutes each section may take at most (the core section about 45 s plus the quiet wait; the abuse section 3-4 min on a busy machine, as its stalls do not shrink with the window).
const SECTION_BUDGET_MIN = { core: 5.5, far: 4, '10k': 12, observability: 5, abuse: 7, cli: 1, scale: 5, profile: 2 };
const TIME_BUDGET_MS = (0.5 + [...SECTIONS].reduce((sum, s) => sum + SECTION_BUDGET_MIN[s], 0)) * 60_000;
/** What each section measured, for docs/benchmarks/latest.md (lib/latest-report.mjs). */
const collected = { date: new Date().toISOString(), node: process.version, cpus: cpus().length, quick: QUICK, sections: {} };

const CFG = QUICK
  ? {
      c1: { rounds: 1, warmupCount: 30, count: 200 },
      c64: { rounds: 1, warmupMs: 300, durationMs: 1000 },
      ttft: { tokens: 8, warmups: 10, count: 50 },
      sse: { tokens: 2000, warmups: 1, runs: 3 },
      big: { bytes: 17e6, warmups: 0, runs: 1 },
      quietWaitS: 0,
      profileMs: 2000,
    }
  : {
      c1: { rounds: 4, warmupCount: 300, count: 2000 },
      c64: { rounds: 2, warmupMs: 1000, durationMs: 5000 },
      ttft: { tokens: 8, warmups: 50, count: 500 },
      sse: { tokens: 2000, warmups: 3, runs: 9 },
      big: { bytes: 17e6, warmups: 1, runs: 5 },
      quietWaitS: 60,
      profileMs: 8000,
    };
if (process.env.BENCH_ROUNDS) {
  const n = Math.max(1, Math.min(10, Number(process.env.BENCH_ROUNDS) || 1));
  CFG.c1.rounds = n;
  CFG.c64.rounds = n;
}
if (process.env.BENCH_QUIET_WAIT_S !== undefined) CFG.quietWaitS = Math.max(0, Math.min(300, Number(process.env.BENCH_QUIET_WAIT_S) || 0));

const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);
const procs = new ProcessSet();

// ---- lifecycle: every child dies with us, whatever happens --------------------------------------

let shuttingDown = false;
async function shutdown(code) {
  if (shuttingDown) return;
  shuttingDown = true;
  try {
    await procs.stopAll(1500);
  } finally {
    procs.cleanupTmp();
    process.exit(code);
  }
}
process.on('exit', () => {
  procs.killAllSync();
  procs.cleanupTmp();
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    log(`${sig}: stopping every process the bench started`);
    void shutdown(130);
  });
}
process.on('uncaughtException', (err) => {
  if (!shuttingDown) log(`failed: ${err.stack ?? err}`);
  void shutdown(1);
});
process.on('unhandledRejection', (err) => {
  if (!shuttingDown) log(`failed: ${err?.stack ?? err}`);
  void shutdown(1);
});
const watchdog = setTimeout(() => {
  log(`the bench ran past its ${TIME_BUDGET_MS / 1000} s budget: aborting`);
  void shutdown(1);
}, TIME_BUDGET_MS);
watchdog.unref();

const startLoadgen = () => startLoadgenProcess(procs);

// ---- main ---------------------------------------------------------------------------------------

/** Waits (bounded) until other jobs on the machine leave the CPUs mostly idle. */
async function waitForQuiet(meter) {
  if (CFG.quietWaitS <= 0) return undefined;
  const deadline = Date.now() + CFG.quietWaitS * 1000;
  let load = await meter.foreignLoad(1000);
  if (load <= 0.2) return undefined;
  log(`other jobs are using ${Math.round(load * 100)}% of a core; waiting up to ${CFG.quietWaitS} s for a quieter machine ...`);
  while (load > 0.2 && Date.now() < deadline) load = await meter.foreignLoad(2000);
  return load > 0.2
    ? `the machine never became quiet (other jobs used ${Math.round(load * 100)}% of a core before the measurements started)`
    : undefined;
}

async function main() {
  const missing = missingBuilds(ROOT);
  if (missing.length > 0) {
    log(`not built: ${missing.map((a) => `apps/${a}/dist/main.js`).join(', ')}; run \`npx nx run-many -t build\` first`);
    await shutdown(1);
    return;
  }
  if (PROFILE) return profile();
  if (SECTIONS.has('core')) await coreSection().catch((err) => failed('core', err));
  for (const name of ['far', '10k', 'observability']) {
    if (!SECTIONS.has(name)) continue;
    await procs.stopAll(1500);
    // Each section module: run(ctx) → figures (JSON-able), render(figures) → the text table.
    const section = await import(`./lib/sections/${name === '10k' ? 'ten-k' : name}.mjs`).catch((err) => failed(name, err));
    if (!section) continue;
    const meter = new CpuMeter(() => [process.pid, ...procs.entries.filter((e) => !e.exited).map((e) => e.child.pid)]);
    const figures = await section.run({ procs, root: ROOT, log, quick: QUICK, cfg: CFG, startLoadgen, meter, waitForQuiet: () => waitForQuiet(meter) }).catch((err) => failed(name, err));
    if (!figures) continue;
    let text;
    try {
      text = section.render(figures);
    } catch (err) {
      failed(name, err);
      continue;
    }
    process.stdout.write(text);
    collected.sections[name] = { figures, text };
    if (process.env.BENCH_JSON) {
      const file = SECTIONS.size > 1 ? process.env.BENCH_JSON.replace(/(\.json)?$/, `.${name}.json`) : process.env.BENCH_JSON;
      writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), quick: QUICK, ...figures }, null, 2)}\n`);
      log(`${name} figures written to ${file}`);
    }
  }
  if (SECTIONS.has('abuse')) {
    // A fresh stack of its own: the core section's processes are gone, its figures unaffected.
    await procs.stopAll(1500);
    log(`abuse section${QUICK ? ' (QUICK)' : ''}: attacks ${process.env.BENCH_ATTACKS || 'all'}`);
    const abuse = await runAbuseSection({ procs, root: ROOT, log, quick: QUICK }).catch((err) => failed('abuse', err));
    const text = abuse ? renderAbuse(abuse) : '';
    process.stdout.write(text);
    if (abuse) collected.sections.abuse = { figures: abuse, text };
    if (abuse && process.env.BENCH_JSON) {
      const file = SECTIONS.has('core') ? process.env.BENCH_JSON.replace(/(\.json)?$/, '.abuse.json') : process.env.BENCH_JSON;
      writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), quick: QUICK, ...abuse }, null, 2)}\n`);
      log(`abuse figures written to ${file}`);
    }
  }
  if (SECTIONS.has('cli')) await cliSection().catch((err) => failed('cli', err));
  if (SECTIONS.has('scale')) await scaleSection().catch((err) => failed('scale', err));
  if (SECTIONS.has('profile')) await profileSection().catch((err) => failed('profile', err));
  const latest = writeLatestReport(ROOT, collected, { sections: [...SECTIONS], all: ALL_SECTIONS });
  if (latest) log(`report written to ${latest}`);
  await shutdown(Object.values(collected.sections).some((s) => s.error) ? 1 : 0);
}

/**
 * A section that failed: logged and recorded (the report shows it as failed) while the other
 * sections still run; the exit code is then 1. After a signal or the watchdog, the failure is
 * only the shutdown's echo: rethrown.
 */
function failed(name, err) {
  if (shuttingDown) throw err;
  log(`the ${name} section failed: ${err?.stack ?? err}`);
  collected.sections[name] = { error: err?.message ?? String(err) };
  return undefined;
}

/** stctl's start-up against a live st-server of its own. */
async function cliSection() {
  await procs.stopAll(1500);
  const mock = await startMock(procs, ROOT);
  const tunnel = await startTunnel(procs, ROOT, mock.url);
  const apiKey = tunnel.headers.authorization.replace(/^Bearer /, '');
  log('cli section: stctl start-up');
  const figures = await measureCliStartup({ root: ROOT, grpcPort: tunnel.grpcPort, apiKey, runs: QUICK ? 5 : 20 });
  const text = renderCliStartup(figures);
  process.stdout.write(text);
  collected.sections.cli = { figures, text };
}

/** Replicas on PostgreSQL and Redis: throughput with one broker and three, kill -9, rolling restart. */
async function scaleSection() {
  await procs.stopAll(1500);
  const meter = new CpuMeter(() => [process.pid, ...procs.entries.filter((e) => !e.exited).map((e) => e.child.pid)]);
  const figures = await runScaleSection({ procs, root: ROOT, log, quick: QUICK, startLoadgen, waitForQuiet: () => waitForQuiet(meter) });
  const text = renderScale(figures);
  process.stdout.write(text);
  collected.sections.scale = { figures, text };
  if (process.env.BENCH_JSON) {
    const file = SECTIONS.size > 1 ? process.env.BENCH_JSON.replace(/(\.json)?$/, '.scale.json') : process.env.BENCH_JSON;
    writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), quick: QUICK, ...figures }, null, 2)}\n`);
    log(`scale figures written to ${file}`);
  }
}

/** 'K=V K2=V2' as an object of settings (a value may hold '='). */
function settingsOf(text) {
  return Object.fromEntries((text ?? '').split(/\s+/).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

/** The three paths side by side (the original bench). */
async function coreSection() {
  const t0 = performance.now();
  log(`${QUICK ? 'QUICK smoke run' : 'full run'} on ${cpus().length} CPUs, node ${process.version}`);
  const mock = await startMock(procs, ROOT);
  log(`mock model server at ${mock.url}`);
  // BENCH_CORE_AGENT_ENV='K=V …': more st-agent settings (ST_AGENT_LIGHT_CLIENT=false: grpc-js's client);
  // BENCH_CORE_SERVER_ENV likewise for st-server (ST_LIGHT_AGENT_STREAMS=false: grpc-js's server, ST_USAGE=off).
  const agentEnv = settingsOf(process.env.BENCH_CORE_AGENT_ENV);
  const serverEnv = settingsOf(process.env.BENCH_CORE_SERVER_ENV);
  const tunnel = await startTunnel(procs, ROOT, mock.url, { agentEnv, serverEnv });
  log(`tunnel ${tunnel.tunnelId} serving at ${tunnel.gateway}${tunnel.prefix}/v1`);

  let ssh;
  let sshWhy;
  if (process.env.BENCH_NO_SSH === '1') sshWhy = 'skipped (BENCH_NO_SSH=1)';
  else {
    try {
      ssh = await startSshTunnel(procs, mock.port, { log });
      log(`ssh -R tunnel: 127.0.0.1:${ssh.port} → sshd → ssh → ${mock.url}`);
    } catch (err) {
      sshWhy = err.message;
      log(`ssh -R baseline unavailable: ${sshWhy}`);
    }
  }

  const { entry: loadgen, rpc } = startLoadgen();
  const targets = {
    direct: { origin: mock.url, prefix: '', headers: {} },
    tunnel: { origin: tunnel.gateway, prefix: tunnel.prefix, headers: tunnel.headers },
  };
  if (ssh) targets.ssh = { origin: `http://127.0.0.1:${ssh.port}`, prefix: '', headers: {} };
  await rpc('setup', { targets });
  const paths = Object.keys(targets);

  // Sanity: every path reaches the same model server and gets the same answer.
  const contentOf = (p) => {
    try {
      return JSON.parse(p.text).choices[0].message.content;
    } catch {
      return undefined;
    }
  };
  const probes = {};
  for (const path of paths) probes[path] = await rpc('probe', { path });
  const reference = contentOf(probes.direct);
  for (const path of [...paths]) {
    const p = probes[path];
    if (p.status === 200 && reference !== undefined && contentOf(p) === reference) continue;
    const msg = `the ${path} path did not return the direct answer (HTTP ${p.status}${p.error ? `, ${p.error}` : ''}: ${String(p.text).slice(0, 200)})`;
    if (path !== 'ssh') throw new Error(msg);
    sshWhy = msg;
    paths.splice(paths.indexOf('ssh'), 1);
    log(msg);
  }

  // Size the big answer: tokens such that the SSE body is ~17 MB.
  const sample = await rpc('probe', { path: 'direct', maxTokens: 5000, stream: true });
  if (sample.status !== 200 || !(sample.bytes > 0)) throw new Error(`the mock did not stream a sample answer: HTTP ${sample.status} ${sample.error ?? ''}`);
  const bigTokens = Math.min(1_000_000, Math.round((5000 * CFG.big.bytes) / sample.bytes));
  log(`big answer: ${bigTokens} tokens ≈ ${(((sample.bytes / 5000) * bigTokens) / 1e6).toFixed(1)} MB of SSE`);

  const meter = new CpuMeter(() => [process.pid, ...procs.entries.filter((e) => !e.exited).map((e) => e.child.pid)]);
  // proxy = both processes of a path; serverSide = the one the client reaches (st-server, sshd with
  // its session processes), agentSide = the one in the session (st-agent, ssh).
  const sidePids = {
    direct: { serverSide: [], agentSide: [] },
    tunnel: { serverSide: [tunnel.server.child.pid], agentSide: [tunnel.agent.child.pid] },
    ssh: ssh ? { serverSide: [ssh.sshd.child.pid], agentSide: [ssh.ssh.child.pid] } : { serverSide: [], agentSide: [] },
  };
  const ctx = {
    rpc,
    meter,
    groups: (path) => ({
      proxy: [...sidePids[path].serverSide, ...sidePids[path].agentSide],
      ...sidePids[path],
      mock: [mock.entry.child.pid],
      client: [loadgen.child.pid],
    }),
  };
  const quietWait = await waitForQuiet(meter);
  if (quietWait) log(quietWait);

  const results = {};
  log(`c=1: ${CFG.c1.warmupCount} warm-up + ${CFG.c1.count} requests per path in ${CFG.c1.rounds} interleaved rounds`);
  results.c1 = await closedLoopPhase(ctx, paths, { concurrency: 1, ...CFG.c1 });
  log(`c=64: ${CFG.c64.warmupMs} ms warm-up + ${CFG.c64.durationMs} ms timed per path in ${CFG.c64.rounds} rounds`);
  results.c64 = await closedLoopPhase(ctx, paths, { concurrency: 64, ...CFG.c64 });
  log(`time to first token: ${CFG.ttft.count} small streamed answers per path (${CFG.ttft.warmups} warm-up)`);
  results.ttft = await ttftPhase(ctx, paths, CFG.ttft);
  log(`SSE: ${CFG.sse.tokens}-token answers, ${CFG.sse.runs} per path (median)`);
  results.sse = await streamPhase(ctx, paths, CFG.sse);
  log(`big: ${bigTokens}-token answers, ${CFG.big.runs} per path (median)`);
  results.big = await streamPhase(ctx, paths, { tokens: bigTokens, warmups: CFG.big.warmups, runs: CFG.big.runs });

  // Peak memory, read while the processes are still alive.
  const mem = {
    server: memoryOf(tunnel.server.child.pid),
    agent: memoryOf(tunnel.agent.child.pid),
    mock: memoryOf(mock.entry.child.pid),
  };
  if (ssh) {
    const sshdPids = [ssh.sshd.child.pid, ...descendants(ssh.sshd.child.pid)];
    mem.sshd = { hwm: sshdPids.reduce((sum, pid) => sum + (memoryOf(pid).hwm ?? 0), 0) };
    mem.ssh = memoryOf(ssh.ssh.child.pid);
  }
  const elapsedS = (performance.now() - t0) / 1000;
  await rpc('close').catch(() => {});

  const died = procs.entries.filter((e) => e.exited && e.name !== 'loadgen').map((e) => `${e.name} (exit code ${e.code}, signal ${e.signal}): ${e.tail.trim().split('\n').slice(-2).join(' | ') || 'no output'}`);
  const text = renderReport({ results, paths, sshWhy, cfg: CFG, quick: QUICK, bigTokens, elapsedS, mem, quietWait, died });
  process.stdout.write(text);
  collected.sections.core = { figures: { results, paths, sshWhy, bigTokens, mem }, text };
  if (process.env.BENCH_JSON) {
    const json = { date: new Date().toISOString(), node: process.version, cpus: cpus().length, quick: QUICK, cfg: CFG, paths, sshWhy, bigTokens, results, mem };
    writeFileSync(process.env.BENCH_JSON, `${JSON.stringify(json, null, 2)}\n`);
    log(`figures written to ${process.env.BENCH_JSON}`);
  }
}

/** BENCH_PROFILE: st-server and st-agent under --cpu-prof while one tunnel phase runs, instead of the bench. */
async function profile() {
  if (!PROFILE_PHASES.includes(PROFILE)) throw new Error(`BENCH_PROFILE must be 1 (= c64), ${PROFILE_PHASES.join(', ')}, not ${PROFILE}`);
  const top = Number(process.env.BENCH_PROFILE_TOP) || 25;
  process.stdout.write(renderProfiles(await runProfiles({ procs, root: ROOT, log, startLoadgen, phases: [PROFILE], windowMs: CFG.profileMs, top })));
  await shutdown(0);
}

/** The `profile` section: after the measured sections, c=64 and a stream under --cpu-prof, summarised. */
async function profileSection() {
  await procs.stopAll(1500);
  const top = Number(process.env.BENCH_PROFILE_TOP) || 15;
  const figures = await runProfiles({ procs, root: ROOT, log, startLoadgen, phases: ['c64', 'stream'], windowMs: CFG.profileMs, top });
  const text = renderProfiles(figures);
  process.stdout.write(text);
  collected.sections.profile = { figures, text };
}

main().catch((err) => {
  // After a signal, the load generator's exit rejects whatever was running: not news.
  if (!shuttingDown) log(`failed: ${err.stack ?? err}`);
  void shutdown(1);
});
