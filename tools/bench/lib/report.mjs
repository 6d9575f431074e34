// The printed result: one table for the three paths, the targets with ✓/✗, memory and noise.
import { cpus } from 'node:os';
import { fmt, fmtBytes, fmtRatio, ratio, table } from './stats.mjs';

export const TARGETS = { addedLatencyMs: 0.25, rpsVsSsh: 1.0, bigVsDirect: 0.88 };

/** A phase is "noisy" when other jobs on the machine used more than this much CPU meanwhile. */
const NOISY_CORES = 0.15;

export function renderReport({ results, paths, sshWhy, cfg, quick, bigTokens, elapsedS, mem, quietWait, died = [] }) {
  const { c1, c64, sse, big } = results;
  const ttft = results.ttft ?? {};
  const has = (p) => paths.includes(p);
  const v = (phase, key) => ({
    direct: phase.direct?.[key],
    tunnel: phase.tunnel?.[key],
    ssh: has('ssh') ? phase.ssh?.[key] : undefined,
  });
  const row = (label, vals, digits, { ratios = true } = {}) => [
    label,
    fmt(vals.direct, digits),
    fmt(vals.tunnel, digits),
    has('ssh') ? fmt(vals.ssh, digits) : 'n/a',
    ratios ? fmtRatio(ratio(vals.tunnel, vals.direct)) : '',
    ratios ? fmtRatio(ratio(vals.ssh, vals.direct)) : '',
    ratios ? fmtRatio(ratio(vals.tunnel, vals.ssh)) : '',
  ];
  const phases = [c1, c64, ttft, sse, big];
  const errors = (path) => phases.reduce((n, phase) => n + (phase[path]?.errors ?? 0), 0);
  const pct = (x) => (x === undefined ? 'n/a' : `${Math.round(100 * x)}%`);
  const bigMb = big.direct?.bytes ? (big.direct.bytes / 1e6).toFixed(1) : '17';

  const rows = [
    row('c=1   latency p50 (ms)', v(c1, 'p50'), 3),
    row('c=1   latency p99 (ms)', v(c1, 'p99'), 3),
    row('c=64  latency p50 (ms)', v(c64, 'p50'), 2),
    row('c=64  latency p99 (ms)', v(c64, 'p99'), 2),
    row('c=64  requests/s', v(c64, 'rps'), 0),
    row('TTFT  p50, 8-token streamed answer (ms)', v(ttft, 'p50'), 3),
    row('TTFT  p99, 8-token streamed answer (ms)', v(ttft, 'p99'), 3),
    row(`SSE ${cfg.sse.tokens} tokens: chunks/s (median)`, v(sse, 'chunksPerS'), 0),
    row(`SSE ${bigMb} MB: MB/s (median)`, v(big, 'mbPerS'), 1),
    row('c=1   proxy CPU/request (µs)', v(c1, 'proxyCpuUsPerReq'), 0),
    row('c=64  proxy CPU/request (µs)', v(c64, 'proxyCpuUsPerReq'), 0),
    row('c=1   st-server | sshd CPU/request (µs)', v(c1, 'serverSideCpuUsPerReq'), 0),
    row('c=1   st-agent | ssh CPU/request (µs)', v(c1, 'agentSideCpuUsPerReq'), 0),
    row('c=64  st-server | sshd CPU/request (µs)', v(c64, 'serverSideCpuUsPerReq'), 0),
    row('c=64  st-agent | ssh CPU/request (µs)', v(c64, 'agentSideCpuUsPerReq'), 0),
    row('c=64  mock CPU/request (µs)', v(c64, 'mockCpuUsPerReq'), 0),
    row('c=64  load-generator CPU/request (µs)', v(c64, 'clientCpuUsPerReq'), 0),
    row(`SSE ${bigMb} MB: proxy CPU (ms per MB)`, v(big, 'proxyCpuMsPerMB'), 1),
    row(`SSE ${bigMb} MB: st-server | sshd CPU (ms per MB)`, v(big, 'serverSideCpuMsPerMB'), 1),
    row(`SSE ${bigMb} MB: st-agent | ssh CPU (ms per MB)`, v(big, 'agentSideCpuMsPerMB'), 1),
    [
      'errors (all phases)',
      String(errors('direct')),
      String(errors('tunnel')),
      has('ssh') ? String(errors('ssh')) : 'n/a',
      '',
      '',
      '',
    ],
    [
      'other jobs on the machine (avg cores)',
      fmt(avgForeign(phases, 'direct'), 2),
      fmt(avgForeign(phases, 'tunnel'), 2),
      has('ssh') ? fmt(avgForeign(phases, 'ssh'), 2) : 'n/a',
      '',
      '',
      '',
    ],
  ];

  const out = [];
  out.push('');
  out.push(
    `Session Tunnels bench${quick ? ' (BENCH_QUICK: too few requests to trust)' : ''}: node ${process.version}, ${cpus().length} CPUs, ` +
      `mock token delay 0, ${elapsedS.toFixed(0)} s`,
  );
  out.push(
    `  c=1: ${c1.direct.n} requests/path (${cfg.c1.rounds} interleaved rounds, ${cfg.c1.warmupCount} warm-up); ` +
      `c=64: ${cfg.c64.durationMs / 1000} s/path (${cfg.c64.rounds} rounds, ${cfg.c64.warmupMs / 1000} s warm-up); chat max_tokens 8, stream false`,
  );
  out.push(
    `  SSE: median of ${cfg.sse.runs} answers of ${cfg.sse.tokens} tokens (${sse.direct.events} data: events incl. role, finish, [DONE]) ` +
      `and of ${cfg.big.runs} answers of ${bigTokens} tokens (${big.direct.bytes} bytes); MB = 10^6 bytes`,
  );
  out.push('');
  out.push(table(['', 'direct', 'tunnel', 'ssh -R', 'tunnel/direct', 'ssh/direct', 'tunnel/ssh'], rows));
  out.push('  Latency and CPU ratios: lower is better; throughput ratios: higher is better.');
  out.push('  proxy = st-server + st-agent (tunnel) or sshd + ssh (ssh -R); CPU from /proc/<pid>/stat over the measured window.');
  out.push('  st-server | sshd: the tunnel column shows st-server, the ssh -R column sshd (with its session processes); st-agent | ssh likewise.');
  out.push('  TTFT: time from sending a small streamed chat completion to its first `data:` event, one at a time.');
  if (!has('ssh')) out.push(`  ssh -R: n/a: ${sshWhy}`);
  for (const path of paths) {
    const first = phases.map((p) => p[path]?.firstError).find(Boolean);
    if (first) out.push(`  first error on ${path}: ${first}`);
  }
  for (const d of died) out.push(`  ⚠ exited during the run: ${d}`);

  const mark = (ok) => (ok === undefined ? '?' : ok ? '✓' : '✗');
  const added = c1.tunnel.p50 - c1.direct.p50;
  const rpsRatio = ratio(c64.tunnel.rps, c64.ssh?.rps);
  const bigRatio = ratio(big.tunnel.mbPerS, big.direct.mbPerS);
  out.push('');
  out.push('Targets (informative: the bench does not fail on them):');
  out.push(
    `  ${mark(Number.isFinite(added) ? added <= TARGETS.addedLatencyMs : undefined)} tunnel added latency at c=1 (p50 tunnel − p50 direct): ` +
      `${fmt(added, 3)} ms   target ≤ ${TARGETS.addedLatencyMs} ms   ` +
      `(p99: +${fmt(c1.tunnel.p99 - c1.direct.p99, 3)} ms; ssh -R adds ${fmt(c1.ssh ? c1.ssh.p50 - c1.direct.p50 : undefined, 3)} ms at p50)`,
  );
  out.push(
    `  ${mark(rpsRatio === undefined ? undefined : rpsRatio >= TARGETS.rpsVsSsh)} requests/s at c=64, tunnel vs ssh -R: ` +
      `${fmt(c64.tunnel.rps, 0)} vs ${fmt(c64.ssh?.rps, 0)} = ${fmtRatio(rpsRatio)}   target ≥ ${TARGETS.rpsVsSsh.toFixed(2)}× ` +
      `(difference ${c64.ssh ? `${c64.tunnel.rps - c64.ssh.rps >= 0 ? '+' : ''}${fmt(c64.tunnel.rps - c64.ssh.rps, 0)}` : 'n/a'} req/s)`,
  );
  out.push(
    `  ${mark(bigRatio === undefined ? undefined : bigRatio >= TARGETS.bigVsDirect)} ${bigMb} MB stream throughput, tunnel/direct: ` +
      `${fmt(big.tunnel.mbPerS, 1)} / ${fmt(big.direct.mbPerS, 1)} MB/s = ${fmtRatio(bigRatio)}   target ≥ ${TARGETS.bigVsDirect.toFixed(2)}×`,
  );
  const ttftAdded = (path) => (ttft[path]?.p50 !== undefined && ttft.direct?.p50 !== undefined ? ttft[path].p50 - ttft.direct.p50 : undefined);
  out.push(
    `  · time to first token added (TTFT p50 − direct; no target): tunnel +${fmt(ttftAdded('tunnel'), 3)} ms, ssh -R +${fmt(ttftAdded('ssh'), 3)} ms ` +
      `(p99: tunnel +${fmt(ttft.tunnel?.p99 - ttft.direct?.p99, 3)} ms)`,
  );
  out.push('');
  out.push('Peak RSS (VmHWM, read after the run):');
  out.push(`  st-server ${fmtBytes(mem.server.hwm)}   st-agent ${fmtBytes(mem.agent.hwm)}   (mock model server ${fmtBytes(mem.mock.hwm)})`);
  if (mem.sshd) out.push(`  for comparison: sshd (listener + session processes) ${fmtBytes(mem.sshd.hwm)}   ssh client ${fmtBytes(mem.ssh.hwm)}`);

  const noisy = [];
  for (const [name, phase] of Object.entries(results)) {
    for (const path of paths) {
      const f = phase[path]?.foreignCores;
      if (f !== undefined && f > NOISY_CORES) noisy.push(`${name}/${path} ${pct(f)}`);
    }
  }
  const steal = Math.max(...phases.flatMap((p) => paths.map((path) => p[path]?.stealCores ?? 0)));
  out.push('');
  if (quietWait) out.push(`Note: ${quietWait}`);
  if (noisy.length > 0) {
    out.push(
      `⚠ Other jobs on this machine used CPU during some measurements (share of one core): ${noisy.join(', ')}. ` +
        'Those figures are pessimistic; rerun on a quiet machine to compare.',
    );
  } else out.push(`Machine was quiet: other jobs used < ${pct(NOISY_CORES)} of a core during every measurement.`);
  if (steal > 0.05) out.push(`⚠ Hypervisor steal reached ${pct(steal)} of a core in some phase.`);
  out.push('');
  return out.join('\n');
}

function avgForeign(phases, path) {
  const xs = phases.map((p) => p[path]?.foreignCores).filter((x) => x !== undefined);
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined;
}
