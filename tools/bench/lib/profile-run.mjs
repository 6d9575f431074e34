// CPU profiles of the tunnel: a stack of its own (the mock, st-server and st-agent under
// `node --cpu-prof`), one window per phase, each summarised by lib/cpuprofile.mjs. Used by
// BENCH_PROFILE (one phase, instead of the bench) and by the `profile` section (c=64 and a stream,
// after the measured sections: a measured phase never runs under the profiler, which slows it).
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpuMeter } from './cpu-meter.mjs';
import { codecShare, renderCodecShare } from './codec-share.mjs';
import { settingsOf } from './env-settings.mjs';
import { report as profileReport, summarise } from './cpuprofile.mjs';
import { startMock, startTunnel } from './stack.mjs';
import { fmt, percentile } from './stats.mjs';

export const PROFILE_PHASES = ['c1', 'c64', 'stream', 'sse'];
const PROCESSES = ['st-server', 'st-agent'];
const nowUs = () => Number(process.hrtime.bigint() / 1000n);

/** Warm-up outside the window (connections, JIT), then the window; returns { fromUs, toUs, requests }. */
async function profiledWindow(rpc, phase, windowMs, log) {
  const closed = phase === 'c1' || phase === 'c64';
  const concurrency = phase === 'c1' ? 1 : 64;
  const tokens = phase === 'sse' ? 2000 : 100_000;
  if (closed) await rpc('latency', { path: 'tunnel', concurrency, durationMs: 500 });
  else await rpc('stream', { path: 'tunnel', maxTokens: phase === 'sse' ? 2000 : 20_000 });
  const fromUs = nowUs();
  let requests = 0;
  if (closed) {
    const r = await rpc('latency', { path: 'tunnel', concurrency, durationMs: windowMs });
    requests = r.completed;
    log(`profile ${phase}: ${r.completed} requests, ${fmt(r.completed / (r.elapsedMs / 1000), 0)} req/s, p50 ${fmt(percentile(r.latencies, 50), 2)} ms, ${r.errors} errors`);
  } else {
    const until = performance.now() + windowMs;
    while (performance.now() < until) {
      const r = await rpc('stream', { path: 'tunnel', maxTokens: tokens });
      requests++;
      if (r.error) log(`profile ${phase}: stream error: ${r.error}`);
    }
    log(`profile ${phase}: ${requests} streams of ${tokens} tokens`);
  }
  return { fromUs, toUs: nowUs(), requests };
}

/** "undici 25%, node:net 14%, …": the packages with the most self time, as shares of busy time. */
function topPackages(summary, busyUs, n = 4) {
  return summary.packages
    .filter((p) => p.pkg !== '(idle)')
    .slice(0, n)
    .map((p) => `${p.pkg} ${Math.round((100 * p.us) / busyUs)}%`)
    .join(', ');
}

/**
 * Profiles the tunnel during each of `phases` (PROFILE_PHASES) for `windowMs` each, on one stack.
 * Returns { outDir, summaries: [{ phase, process, file, requests, busyMs, busyUsPerRequest,
 * topPackages, foreignCores, text }] }; the .cpuprofile files stay in outDir.
 */
export async function runProfiles({ procs, root, log, startLoadgen, phases, windowMs, top = 25 }) {
  for (const p of phases) if (!PROFILE_PHASES.includes(p)) throw new Error(`no profile phase named ${p} (${PROFILE_PHASES.join(', ')})`);
  const outDir = mkdtempSync(join(tmpdir(), 'st-bench-profile-'));
  log(`profiling the tunnel during ${phases.join(', ')} (${windowMs} ms each); profiles in ${outDir}`);
  const mock = await startMock(procs, root);
  // One directory per process, so each profile is found by its process name.
  const nodeArgsFor = (name) => ['--cpu-prof', `--cpu-prof-dir=${join(outDir, name)}`, '--cpu-prof-interval=250'];
  // Extra settings for the profiled processes (to profile a feature switched on, e.g. metrics):
  // BENCH_PROFILE_SERVER_ENV='ST_METRICS_PORT=0', BENCH_PROFILE_AGENT_ENV='ST_AGENT_METRICS_ADDR=127.0.0.1:0'.
  const tunnel = await startTunnel(procs, root, mock.url, { nodeArgsFor, serverEnv: settingsOf(process.env.BENCH_PROFILE_SERVER_ENV), agentEnv: settingsOf(process.env.BENCH_PROFILE_AGENT_ENV) });
  const { rpc } = startLoadgen();
  await rpc('setup', { targets: { tunnel: { origin: tunnel.gateway, prefix: tunnel.prefix, headers: tunnel.headers } } });
  const meter = new CpuMeter(() => [process.pid, ...procs.entries.filter((e) => !e.exited).map((e) => e.child.pid)]);
  const windows = [];
  for (const phase of phases) {
    const before = meter.snapshot();
    const w = await profiledWindow(rpc, phase, windowMs, log);
    const foreignCores = CpuMeter.delta(before, meter.snapshot()).foreignCores;
    if (foreignCores > 0.15) log(`profile ${phase}: other jobs used ${Math.round(foreignCores * 100)}% of a core meanwhile (shares stay valid; absolute times are inflated)`);
    windows.push({ phase, foreignCores, ...w });
  }
  await rpc('close').catch(() => {});
  // Each phase's window and request count beside the profiles, so that two runs can be compared
  // per request afterwards (tools/bench/trace/profile-diff.mjs).
  writeFileSync(join(outDir, 'windows.json'), `${JSON.stringify(windows.map(({ phase, fromUs, toUs, requests }) => ({ phase, fromUs, toUs, requests })))}\n`);
  // A graceful stop, so that node writes the profiles.
  await procs.stop(tunnel.agent, 15_000);
  await procs.stop(tunnel.server, 15_000);
  await procs.stop(mock.entry, 5000);

  const summaries = [];
  for (const name of PROCESSES) {
    const dir = join(outDir, name);
    const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
    if (files.length === 0) {
      log(`no profile written for ${name}`);
      continue;
    }
    const file = join(dir, files[0]);
    for (const w of windows) {
      const summary = summarise(file, { fromUs: w.fromUs, toUs: w.toUs });
      const busyUs = summary.totalUs - (summary.packages.find((p) => p.pkg === '(idle)')?.us ?? 0);
      summaries.push({
        phase: w.phase,
        process: name,
        file,
        requests: w.requests,
        busyMs: busyUs / 1000,
        busyUsPerRequest: w.requests > 0 ? busyUs / w.requests : undefined,
        topPackages: busyUs > 0 ? topPackages(summary, busyUs) : '',
        foreignCores: w.foreignCores,
        text: `${profileReport(summary, { title: `${name}, ${w.phase} (${file})`, top, requests: w.requests })}\n${renderCodecShare(codecShare(file, { fromUs: w.fromUs, toUs: w.toUs }), w.requests)}`,
      });
    }
  }
  // Phase by phase, st-server before st-agent: the order a reader compares them in.
  summaries.sort((a, b) => phases.indexOf(a.phase) - phases.indexOf(b.phase) || PROCESSES.indexOf(a.process) - PROCESSES.indexOf(b.process));
  return { outDir, summaries };
}

/** The summaries as printed text. */
export function renderProfiles({ outDir, summaries }) {
  return `${summaries.map((s) => `\n${s.text}\n`).join('')}\nprofiles kept in ${outDir} (open them in Chrome DevTools or speedscope)\n`;
}
