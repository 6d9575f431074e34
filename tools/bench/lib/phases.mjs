// The measurements. Paths take turns (interleaved rounds, rotated order) so that a slow patch of
// the machine hits every path alike; warm-ups are separate calls, outside the CPU accounting.
import { CpuMeter } from './cpu-meter.mjs';
import { concat, median, percentile } from './stats.mjs';

/**
 * @typedef {object} Ctx
 * @property {(cmd: string, args?: object, timeoutMs?: number) => Promise<any>} rpc  load generator
 * @property {CpuMeter} meter
 * @property {(path: string) => Record<string, number[]>} groups  pid groups to account per path
 */

/**
 * Percentiles kept of every latency distribution (`dist.ms[i]` is percentile `dist.p[i]`): enough
 * for a latency-by-percentile chart or a CDF in docs/benchmarks/latest.svg without keeping every
 * sample (c=64 records ~100,000 per path).
 */
export const DIST_POINTS = [0, 1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 97.5, 99, 99.5, 99.9, 99.95, 99.99, 100];

/** The latency summary of a list of samples in ms: p50, p90, p99, p99.9, max and `dist`. */
export function latencySummary(lat) {
  return {
    p50: percentile(lat, 50),
    p90: percentile(lat, 90),
    p99: percentile(lat, 99),
    p999: percentile(lat, 99.9),
    max: percentile(lat, 100),
    dist: lat.length > 0 ? { p: DIST_POINTS, ms: DIST_POINTS.map((p) => percentile(lat, Math.max(p, 1e-9))) } : undefined,
  };
}

/** Paths in a different order each round, so that no path always runs first. */
export function rotate(list, r) {
  return list.map((_, i) => list[(i + r) % list.length]);
}

/** Runs `fn` between two CPU snapshots; returns its result and the CPU used meanwhile. */
async function accounted(ctx, path, fn) {
  const groups = ctx.groups(path);
  const a = ctx.meter.snapshot(groups);
  const res = await fn();
  return { res, cpu: CpuMeter.delta(a, ctx.meter.snapshot(groups)) };
}

function addCpu(acc, cpu) {
  acc.wallMs += cpu.wallMs;
  acc.foreignCoreMs += cpu.foreignCores * cpu.wallMs;
  acc.stealCoreMs += cpu.stealCores * cpu.wallMs;
  for (const [name, ms] of Object.entries(cpu.groups)) {
    if (ms === undefined) continue;
    acc.groups[name] = (acc.groups[name] ?? 0) + ms;
  }
}

const newCpuAcc = () => ({ wallMs: 0, foreignCoreMs: 0, stealCoreMs: 0, groups: {} });

function cpuSummary(acc, per, perLabel) {
  const out = {
    foreignCores: acc.wallMs > 0 ? acc.foreignCoreMs / acc.wallMs : undefined,
    stealCores: acc.wallMs > 0 ? acc.stealCoreMs / acc.wallMs : undefined,
  };
  for (const [name, ms] of Object.entries(acc.groups)) out[`${name}Cpu${perLabel}`] = per > 0 ? ms / per : undefined;
  return out;
}

/**
 * Closed-loop small chat completions at `concurrency`: p50/p99 latency, requests/s, and CPU per
 * request of the proxy processes, the mock and the load generator.
 */
export async function closedLoopPhase(ctx, paths, spec) {
  const { concurrency, rounds, warmupCount = 0, warmupMs = 0, count, durationMs } = spec;
  const parts = Object.fromEntries(paths.map((p) => [p, { runs: [], cpu: newCpuAcc() }]));
  for (let r = 0; r < rounds; r++) {
    for (const path of rotate(paths, r)) {
      // Later rounds re-warm briefly: the path sat idle while the others ran.
      const wc = r === 0 ? warmupCount : Math.ceil(warmupCount / 5);
      const wm = r === 0 ? warmupMs : Math.ceil(warmupMs / 5);
      if (wc > 0) await ctx.rpc('latency', { path, concurrency, count: wc });
      if (wm > 0) await ctx.rpc('latency', { path, concurrency, durationMs: wm });
      const { res, cpu } = await accounted(ctx, path, () =>
        ctx.rpc('latency', {
          path,
          concurrency,
          count: count === undefined ? undefined : Math.ceil(count / rounds),
          durationMs: durationMs === undefined ? undefined : durationMs / rounds,
        }),
      );
      parts[path].runs.push(res);
      addCpu(parts[path].cpu, cpu);
    }
  }
  const out = {};
  for (const path of paths) {
    const { runs, cpu } = parts[path];
    const lat = concat(runs.map((r) => r.latencies));
    const completed = runs.reduce((n, r) => n + r.completed, 0);
    const elapsedMs = runs.reduce((n, r) => n + r.elapsedMs, 0);
    out[path] = {
      n: completed,
      ...latencySummary(lat),
      rps: elapsedMs > 0 ? completed / (elapsedMs / 1000) : undefined,
      errors: runs.reduce((n, r) => n + r.errors, 0),
      firstError: runs.find((r) => r.firstError)?.firstError,
      // µs of CPU per request: ms / requests * 1000
      ...cpuSummary(cpu, completed / 1000, 'UsPerReq'),
    };
  }
  return out;
}

/**
 * Streamed answers of `tokens` tokens, one at a time, interleaved across paths. Every answer must
 * arrive whole (role chunk + one per token + finish chunk + [DONE] = tokens + 3 `data:` events).
 * Reports median chunks/s and MB/s, and CPU per MB.
 */
export async function streamPhase(ctx, paths, { tokens, warmups, runs }) {
  const expectEvents = tokens + 3;
  const rec = Object.fromEntries(paths.map((p) => [p, { ok: [], errors: 0, firstError: undefined, bytes: 0, cpu: newCpuAcc() }]));
  for (let i = 0; i < warmups + runs; i++) {
    for (const path of rotate(paths, i)) {
      if (i < warmups) {
        await ctx.rpc('stream', { path, maxTokens: tokens });
        continue;
      }
      const { res: r, cpu } = await accounted(ctx, path, () => ctx.rpc('stream', { path, maxTokens: tokens }));
      const bad = r.error ?? (r.events !== expectEvents ? `${r.events} data: events, expected ${expectEvents}` : undefined);
      const e = rec[path];
      if (bad) {
        e.errors++;
        e.firstError ??= bad;
        continue;
      }
      e.ok.push(r);
      e.bytes += r.bytes;
      addCpu(e.cpu, cpu);
    }
  }
  const out = {};
  for (const path of paths) {
    const { ok, errors, firstError, bytes, cpu } = rec[path];
    out[path] = {
      runs: ok.length,
      errors,
      firstError,
      bytes: ok[0]?.bytes,
      events: expectEvents,
      chunksPerS: median(ok.map((r) => r.events / (r.ms / 1000))),
      mbPerS: median(ok.map((r) => r.bytes / 1e6 / (r.ms / 1000))),
      ms: median(ok.map((r) => r.ms)),
      // ms of CPU per MB streamed
      ...cpuSummary(cpu, bytes / 1e6, 'MsPerMB'),
    };
  }
  return out;
}

/**
 * Time to first token: small streamed answers (`tokens` tokens) one at a time, paths interleaved;
 * the time from sending the request to the first SSE `data:` event, as a streaming client feels it.
 * No CPU accounting (a snapshot per request would cost more than the request).
 */
export async function ttftPhase(ctx, paths, { tokens = 8, warmups, count }) {
  const rec = Object.fromEntries(paths.map((p) => [p, { times: [], errors: 0, firstError: undefined }]));
  for (let i = 0; i < warmups + count; i++) {
    for (const path of rotate(paths, i)) {
      const r = await ctx.rpc('stream', { path, maxTokens: tokens });
      if (i < warmups) continue;
      const bad = r.error ?? (r.firstEventMs === undefined ? 'no data: event' : r.events !== tokens + 3 ? `${r.events} data: events, expected ${tokens + 3}` : undefined);
      const e = rec[path];
      if (bad) {
        e.errors++;
        e.firstError ??= bad;
      } else e.times.push(r.firstEventMs);
    }
  }
  return Object.fromEntries(
    paths.map((path) => {
      const { times, errors, firstError } = rec[path];
      return [path, { n: times.length, errors, firstError, ...latencySummary(times) }];
    }),
  );
}
