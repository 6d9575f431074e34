// The far section (issue 9): the tunnel and `ssh -R` over a long link. A delay proxy
// (lib/delay-proxy.mjs, 25 ms each way: a 50 ms round trip, no bandwidth cap) sits between
// st-agent and st-server's gRPC port, and the same proxy between ssh and sshd, so both carry their
// answers over the same kind of link. The client, the gateway/sshd side and the mock model server
// stay on loopback: only the session ↔ control-plane hop is far, as in a real deployment.
// Measured: MB/s of the ~17 MB streamed answer (window-bound: a window per round trip) and the
// c=1 p50 of a small chat completion (round trips per exchange: one is the floor).
import { startDelayProxy } from '../delay-proxy.mjs';
import { closedLoopPhase, streamPhase } from '../phases.mjs';
import { startSshTunnel } from '../ssh-tunnel.mjs';
import { startMock, startTunnel } from '../stack.mjs';
import { fmt, fmtRatio, ratio, table } from '../stats.mjs';

/** One-way delay of the long link (a round trip costs twice this). */
export const ONE_WAY_DELAY_MS = 25;
export const TARGETS = { bigVsSsh: 0.9, c1AddedVsSshMs: 1 };

export async function run(ctx) {
  const { procs, root, log, quick, cfg } = ctx;
  const proxies = [];
  const delayed = async (port) => {
    const proxy = await startDelayProxy({ target: `127.0.0.1:${port}`, delayMs: ONE_WAY_DELAY_MS });
    proxies.push(proxy);
    return proxy.port;
  };
  try {
    const mock = await startMock(procs, root);
    const tunnel = await startTunnel(procs, root, mock.url, { brokerAddressFor: async (grpcPort) => `127.0.0.1:${await delayed(grpcPort)}` });
    log(`far: tunnel ${tunnel.tunnelId}, st-agent dials st-server's gRPC port through a ${2 * ONE_WAY_DELAY_MS} ms round-trip delay proxy`);
    let ssh;
    let sshWhy;
    if (process.env.BENCH_NO_SSH === '1') sshWhy = 'skipped (BENCH_NO_SSH=1)';
    else {
      try {
        ssh = await startSshTunnel(procs, mock.port, { log, timeoutMs: 20_000, dialPortFor: delayed });
        log(`far: ssh -R tunnel 127.0.0.1:${ssh.port}, ssh dials sshd through the same kind of delay proxy`);
      } catch (err) {
        sshWhy = err.message;
        log(`far: ssh -R baseline unavailable: ${sshWhy}`);
      }
    }
    const { entry: loadgen, rpc } = ctx.startLoadgen();
    const targets = {
      direct: { origin: mock.url, prefix: '', headers: {} },
      tunnel: { origin: tunnel.gateway, prefix: tunnel.prefix, headers: tunnel.headers },
    };
    if (ssh) targets.ssh = { origin: `http://127.0.0.1:${ssh.port}`, prefix: '', headers: {} };
    await rpc('setup', { targets });
    const paths = Object.keys(targets).filter((p) => p !== 'direct');

    // The big answer sized as in the core section (~17 MB of SSE), from the direct path.
    const sample = await rpc('probe', { path: 'direct', maxTokens: 5000, stream: true });
    if (sample.status !== 200 || !(sample.bytes > 0)) throw new Error(`far: the mock did not stream a sample answer: HTTP ${sample.status} ${sample.error ?? ''}`);
    const bigTokens = Math.min(1_000_000, Math.round((5000 * cfg.big.bytes) / sample.bytes));

    const proxyPids = {
      tunnel: [tunnel.server.child.pid, tunnel.agent.child.pid],
      ssh: ssh ? [ssh.sshd.child.pid, ssh.ssh.child.pid] : [],
    };
    const phaseCtx = {
      rpc,
      meter: ctx.meter,
      groups: (path) => ({ proxy: proxyPids[path], mock: [mock.entry.child.pid], client: [loadgen.child.pid] }),
    };
    const quietWait = await ctx.waitForQuiet();
    if (quietWait) log(quietWait);
    // Every c=1 request costs at least one 50 ms round trip: fewer requests than the core section.
    const c1 = quick ? { rounds: 1, warmupCount: 10, count: 60 } : { rounds: 2, warmupCount: 30, count: 300 };
    const big = quick ? { warmups: 0, runs: 1 } : { warmups: 1, runs: 3 };
    log(`far c=1: ${c1.warmupCount} warm-up + ${c1.count} requests per path in ${c1.rounds} rounds`);
    const latency = await closedLoopPhase(phaseCtx, paths, { concurrency: 1, ...c1 });
    log(`far big: ${bigTokens}-token answers, ${big.runs} per path (median)`);
    const stream = await streamPhase(phaseCtx, paths, { tokens: bigTokens, ...big });
    await rpc('close').catch(() => {});
    return { delayMs: ONE_WAY_DELAY_MS, quick, paths, sshWhy, bigTokens, c1: latency, big: stream, quietWait };
  } finally {
    await Promise.all(proxies.map((p) => p.close().catch(() => {})));
  }
}

export function render(f) {
  const has = (p) => f.paths.includes(p);
  const val = (phase, key, digits) => ({ tunnel: fmt(phase.tunnel?.[key], digits), ssh: has('ssh') ? fmt(phase.ssh?.[key], digits) : 'n/a' });
  const bigMb = f.big.tunnel?.bytes ? (f.big.tunnel.bytes / 1e6).toFixed(1) : '17';
  const row = (label, phase, key, digits, kind) => {
    const v = val(phase, key, digits);
    const t = phase.tunnel?.[key];
    const s = phase.ssh?.[key];
    const cmp = kind === 'ratio' ? fmtRatio(ratio(t, s)) : Number.isFinite(t) && Number.isFinite(s) ? `${t - s >= 0 ? '+' : ''}${fmt(t - s, digits)} ms` : 'n/a';
    return [label, v.tunnel, v.ssh, cmp];
  };
  const rows = [
    row('c=1   latency p50 (ms)', f.c1, 'p50', 2, 'diff'),
    row('c=1   latency p99 (ms)', f.c1, 'p99', 2, 'diff'),
    row(`SSE ${bigMb} MB: MB/s (median)`, f.big, 'mbPerS', 1, 'ratio'),
    row(`SSE ${bigMb} MB: ms (median)`, f.big, 'ms', 0, 'ratio'),
    row(`SSE ${bigMb} MB: proxy CPU (ms per MB)`, f.big, 'proxyCpuMsPerMB', 1, 'ratio'),
    ['errors', String((f.c1.tunnel?.errors ?? 0) + (f.big.tunnel?.errors ?? 0)), has('ssh') ? String((f.c1.ssh?.errors ?? 0) + (f.big.ssh?.errors ?? 0)) : 'n/a', ''],
  ];
  const lines = [
    '',
    `Far away: ${2 * f.delayMs} ms round trip between st-agent and st-server (and between ssh and sshd), no bandwidth cap${f.quick ? ' (QUICK)' : ''}`,
    `  c=1: ${f.c1.tunnel?.n ?? 0} requests/path; SSE: median of ${f.big.tunnel?.runs ?? 0} answers of ${f.bigTokens} tokens`,
    '',
    table(['', 'tunnel', 'ssh -R', 'tunnel vs ssh'], rows),
  ];
  if (f.sshWhy) lines.push(`  ssh -R column: ${f.sshWhy}`);
  const errs = [f.c1.tunnel?.firstError, f.big.tunnel?.firstError].filter(Boolean);
  if (errs.length) lines.push(`  first tunnel error: ${errs[0]}`);
  lines.push('', 'Targets (informative):');
  const bigRatio = ratio(f.big.tunnel?.mbPerS, f.big.ssh?.mbPerS);
  const added = Number.isFinite(f.c1.tunnel?.p50) && Number.isFinite(f.c1.ssh?.p50) ? f.c1.tunnel.p50 - f.c1.ssh.p50 : undefined;
  const mark = (ok) => (ok === undefined ? '?' : ok ? '✓' : '✗');
  lines.push(`  ${mark(bigRatio === undefined ? undefined : bigRatio >= TARGETS.bigVsSsh)} far ${bigMb} MB stream, tunnel/ssh -R: ${fmtRatio(bigRatio)}   target ≥ ${TARGETS.bigVsSsh.toFixed(2)}×`);
  lines.push(`  ${mark(added === undefined ? undefined : added <= TARGETS.c1AddedVsSshMs)} far c=1 p50, tunnel − ssh -R: ${added === undefined ? 'n/a' : `${fmt(added, 2)} ms`}   target ≤ ${TARGETS.c1AddedVsSshMs} ms`);
  if (f.quietWait) lines.push(`  ⚠ ${f.quietWait}`);
  return `${lines.join('\n')}\n`;
}
