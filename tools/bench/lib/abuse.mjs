// The abuse section (issue 7): for each attack, another tenant's latency while it runs against
// without it, and the worst delay a /healthz probe saw (st-server's event loop is not reachable
// from outside; a probe every 10 ms sees what every caller would).
//
// Tenants on one st-server: "demo" (the victim: its own tunnel and st-agent, as in the core
// section) and "mallory" (the attacker: tunnel "mal" served by a real st-agent, tunnel "rogue"
// served only by the hand-written hostile agent of attacks/rogue-agent.mjs). The attacks run in a
// forked process (attacker.mjs); this process only measures.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { Pool } from 'undici';
import { ATTACKS } from './attacks/index.mjs';
import { forkWorker } from './worker-process.mjs';
import { CpuMeter } from './cpu-meter.mjs';
import { memoryOf } from './procs.mjs';
import { startAgent, startMock, startTunnel } from './stack.mjs';
import { waitForHttp } from './ssh-tunnel.mjs';
import { fmt, median, percentile, table } from './stats.mjs';

/** The goal of issue 7: no attack within the limits delays another tenant by more than this at p99. */
export const GOAL_P99_DELTA_MS = 50;
const SMALL = JSON.stringify({ model: 'mock-llama-3-8b', messages: [{ role: 'user', content: 'victim' }], max_tokens: 8 });
const STREAMED = JSON.stringify({ model: 'mock-llama-3-8b', messages: [{ role: 'user', content: 'victim stream' }], max_tokens: 200, stream: true });

export function abuseConfig(quick) {
  return quick
    ? { windowMs: 3000, trickleMs: 12_000, slowHeadersMs: 5000, uploads: 2, victimEveryMs: 50, probeEveryMs: 10 }
    : { windowMs: 8000, trickleMs: 35_000, slowHeadersMs: 10_000, uploads: 5, victimEveryMs: 50, probeEveryMs: 10 };
}

/** Which attacks to run: BENCH_ATTACKS=deep-json-tunnel,ping-flood (default all). */
export function selectedAttacks() {
  const names = (process.env.BENCH_ATTACKS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!ATTACKS[n]) throw new Error(`BENCH_ATTACKS: no attack named ${n} (known: ${Object.keys(ATTACKS).join(', ')})`);
  return names.length > 0 ? names : Object.keys(ATTACKS);
}

function managementClients(root, grpcPort) {
  const def = protoLoader.loadSync('sessiontunnel/v1/management.proto', { includeDirs: [join(root, 'proto')], keepCase: false, defaults: true, oneofs: true, longs: String, enums: String });
  const v1 = grpc.loadPackageDefinition(def).sessiontunnel.v1;
  const address = `127.0.0.1:${grpcPort}`;
  const creds = grpc.credentials.createInsecure();
  const clients = { users: new v1.UserService(address, creds), sessions: new v1.SessionService(address, creds), tunnels: new v1.TunnelManagerService(address, creds) };
  const call = (client, method, request, secret) =>
    new Promise((resolve, reject) => {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${secret}`);
      client[method](request, md, { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(new Error(`${method}: ${err.message}`)) : resolve(res)));
    });
  return { ...clients, call, close: () => Object.values(clients).forEach((c) => c.close()) };
}

/** Creates the attacker tenant through the management API, as an operator and then as the user would. */
async function createAttacker(root, grpcPort, adminToken, mockPort) {
  const m = managementClients(root, grpcPort);
  try {
    const { user, apiKey } = await m.call(m.users, 'createUser', { name: 'mallory' }, adminToken);
    const { session } = await m.call(m.sessions, 'startSession', { name: 'mal' }, apiKey);
    const tunnel = (name) => m.call(m.tunnels, 'createTunnel', { sessionId: session.id, name, remoteHost: '127.0.0.1', remotePort: mockPort, openai: true }, apiKey);
    const mal = await tunnel('mal');
    const rogue = await tunnel('rogue');
    return { userId: user.id, apiKey, tunnelId: mal.tunnel.id, tunnelName: 'mal', agentToken: mal.agentToken, rogueTunnelId: rogue.tunnel.id, rogueToken: rogue.agentToken };
  } finally {
    m.close();
  }
}

function startAttacker(procs) {
  // Both processes pass on NODE_OPTIONS-free environments (forkWorker): the attacker needs none.
  const { rpc } = forkWorker(procs, { name: 'attacker', script: 'attacker.mjs', execArgv: ['--max-old-space-size=2048'] });
  return { run: (attack, targets, options) => rpc('run', { attack, targets, options }) };
}

/**
 * The victim's view of one window: small chat completions sent open-loop every `victimEveryMs`
 * (a stall shows as many slow requests, not one), streamed answers one after another, and a
 * /healthz probe every `probeEveryMs`. Runs until `durationMs` passed and `until` settled, then
 * waits for what is still in flight.
 */
async function measureVictim(v, { durationMs, until = Promise.resolve(), cfg, serverPid, meter }) {
  const cpuBefore = meter?.snapshot();
  const rssStart = memoryOf(serverPid).rss ?? 0;
  const small = [];
  const streams = [];
  const probes = [];
  const errors = {};
  let rssPeak = 0;
  const inflight = new Set();
  let stop = false;
  const track = (p) => {
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };
  const timed = async (list, fn) => {
    const t0 = performance.now();
    try {
      const status = await fn();
      if (status !== 200) errors[status] = (errors[status] ?? 0) + 1;
    } catch (err) {
      errors[err.code ?? 'error'] = (errors[err.code ?? 'error'] ?? 0) + 1;
    }
    list.push(performance.now() - t0);
  };
  const chat = (body) => async () => {
    const res = await v.pool.request({ method: 'POST', path: `${v.prefix}/v1/chat/completions`, headers: { ...v.headers, 'content-type': 'application/json' }, body, headersTimeout: 120_000, bodyTimeout: 120_000 });
    await res.body.dump();
    return res.statusCode;
  };
  const probe = async () => {
    const res = await v.probePool.request({ method: 'GET', path: '/healthz', headersTimeout: 120_000 });
    await res.body.dump();
    return res.statusCode;
  };
  const tick = setInterval(() => track(timed(small, chat(SMALL))), cfg.victimEveryMs);
  const probeTick = setInterval(() => track(timed(probes, probe)), cfg.probeEveryMs);
  const rssTick = setInterval(() => (rssPeak = Math.max(rssPeak, memoryOf(serverPid).rss ?? 0)), 200);
  const streamer = (async () => {
    // One at a time, 100 ms apart: the victim's whole load stays near 30 requests/s.
    while (!stop) {
      await timed(streams, chat(STREAMED));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await Promise.all([new Promise((r) => setTimeout(r, durationMs)), until.catch(() => {})]);
  stop = true;
  clearInterval(tick);
  clearInterval(probeTick);
  await Promise.race([Promise.all([...inflight, streamer]), new Promise((r) => setTimeout(r, 120_000))]);
  clearInterval(rssTick);
  return {
    rssStart,
    foreignCores: cpuBefore ? CpuMeter.delta(cpuBefore, meter.snapshot()).foreignCores : undefined,
    p50: percentile(small, 50),
    p99: percentile(small, 99),
    count: small.length,
    streamMedian: median(streams),
    streamMax: streams.length ? Math.max(...streams) : undefined,
    probeMax: probes.length ? Math.max(...probes) : undefined,
    errors,
    rssPeak,
  };
}

/**
 * A fresh st-server with both tenants and their agents. Each attack gets one: what an attack left
 * behind (a bloated heap, a dropped agent) must not be charged to the next.
 */
async function startTenants(procs, root, mock, log) {
  const adminToken = `bench-admin-${randomBytes(12).toString('hex')}`;
  // The victim sends about 30 requests/s: per-user rate limits are set above that and far below
  // the flood's (unknown settings are ignored by st-server versions without them). Anything else
  // comes from the run's environment: BENCH_ABUSE_SERVER_ENV='ST_MAX_JSON_DEPTH=64 …'.
  const extra = Object.fromEntries((process.env.BENCH_ABUSE_SERVER_ENV ?? '').split(/\s+/).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  const stack = await startTunnel(procs, root, mock.url, { serverEnv: { ST_ADMIN_TOKEN: adminToken, ST_LIMIT_USER_RPS: '100', ST_LIMIT_USER_BURST: '200', ...extra } });
  const attacker = await createAttacker(root, stack.grpcPort, adminToken, mock.port);
  const malAgent = startAgent(procs, root, 'st-agent (attacker)', { grpcPort: stack.grpcPort, token: attacker.agentToken, upstreamUrl: mock.url });
  await waitForHttp(`${stack.gateway}/t/${attacker.tunnelId}/v1/models`, malAgent, 20_000, { authorization: `Bearer ${attacker.apiKey}` });
  log(`abuse: st-server pid ${stack.server.child.pid}: victim tunnel ${stack.tunnelId}; mallory's tunnels ${attacker.tunnelId} (st-agent), ${attacker.rogueTunnelId} (rogue agent)`);
  const victim = {
    pool: new Pool(stack.gateway, { connections: 128 }),
    probePool: new Pool(stack.gateway, { connections: 64 }),
    prefix: stack.prefix,
    headers: stack.headers,
  };
  return {
    victim,
    serverPid: stack.server.child.pid,
    targets: { gateway: stack.gateway, httpPort: Number(new URL(stack.gateway).port), grpcPort: stack.grpcPort, attacker },
    async stop() {
      await victim.pool.destroy();
      await victim.probePool.destroy();
      for (const entry of [malAgent, stack.agent, stack.server]) await procs.stop(entry, 1500);
    },
  };
}

/** Runs the whole section; returns the rows for the report. */
export async function runAbuseSection({ procs, root, log, quick }) {
  const cfg = abuseConfig(quick);
  const attacks = selectedAttacks();
  const mock = await startMock(procs, root);
  const runner = startAttacker(procs);
  const meter = new CpuMeter(() => [process.pid, ...procs.entries.filter((e) => !e.exited).map((e) => e.child.pid)]);

  let tenants = await startTenants(procs, root, mock, log);
  // Warm-up, then the baseline.
  await measureVictim(tenants.victim, { durationMs: 1000, cfg, serverPid: tenants.serverPid });
  log(`abuse: baseline (${cfg.windowMs} ms)`);
  const baseline = await measureVictim(tenants.victim, { durationMs: cfg.windowMs, cfg, serverPid: tenants.serverPid, meter });
  const rows = [{ name: 'none', label: 'no attack (baseline)', m: baseline, outcome: '' }];
  for (const [i, name] of attacks.entries()) {
    if (i > 0) {
      await tenants.stop();
      tenants = await startTenants(procs, root, mock, log);
      await measureVictim(tenants.victim, { durationMs: 500, cfg, serverPid: tenants.serverPid });
    }
    const durationMs = name === 'trickle' ? cfg.trickleMs : name === 'slow-headers' ? cfg.slowHeadersMs : cfg.windowMs;
    log(`abuse: ${name} (${durationMs} ms)`);
    const started = performance.now();
    const attack = runner.run(name, tenants.targets, { durationMs, uploads: cfg.uploads });
    const m = await measureVictim(tenants.victim, { durationMs, until: attack, cfg, serverPid: tenants.serverPid, meter });
    let outcome;
    try {
      outcome = (await attack).outcome;
    } catch (err) {
      outcome = `attack failed: ${err.message.split('\n')[0]}`;
    }
    rows.push({ name, label: ATTACKS[name].label, m, outcome, tookS: (performance.now() - started) / 1000 });
  }
  await tenants.stop();
  return { rows, baseline, cfg };
}

export function renderAbuse({ rows, baseline }) {
  const ms = (v) => (v === undefined ? 'n/a' : fmt(v, v >= 100 ? 0 : 1));
  const header = ['attack', 'p50 ms', 'p99 ms', 'Δp99', 'goal', 'stream ms med/max', 'errors (victim, probe)', 'max probe ms', 'server RSS start→peak', 'other jobs', 'attacker got'];
  const body = rows.map(({ label, m, outcome, name }) => {
    const delta = m.p99 - baseline.p99;
    const errs = Object.entries(m.errors).map(([k, n]) => `${k}×${n}`).join(' ') || '0';
    return [
      label,
      ms(m.p50),
      ms(m.p99),
      name === 'none' ? '' : `${delta >= 0 ? '+' : ''}${ms(delta)}`,
      name === 'none' ? '' : delta <= GOAL_P99_DELTA_MS && errs === '0' ? '✓' : '✗',
      `${ms(m.streamMedian)}/${ms(m.streamMax)}`,
      errs,
      ms(m.probeMax),
      m.rssPeak ? `${(m.rssStart / 1048576).toFixed(0)}→${(m.rssPeak / 1048576).toFixed(0)} MiB` : 'n/a',
      m.foreignCores === undefined ? 'n/a' : `${Math.round(m.foreignCores * 100)}%${m.foreignCores > 0.3 ? ' ⚠' : ''}`,
      outcome,
    ];
  });
  return [
    '',
    `Abuse: another tenant's small chat completion (open loop, every 50 ms) and streamed answer (200 tokens) during each attack`,
    `goal ✓: p99 within ${GOAL_P99_DELTA_MS} ms of the baseline and no victim errors; max probe = slowest GET /healthz (one every 10 ms);`,
    `other jobs = CPU used by processes outside the bench meanwhile (% of one core; ⚠ over 30%: the figures are inflated)`,
    table(header, body),
    '',
  ].join('\n');
}
