// 10,000 idle tunnels on one broker, and their reconnect storm (issue 9), on a stack of its own:
// the mock, st-server (persistent data dir and fixed ports, so it can be restarted) and a victim
// tunnel served by a real st-agent. The tunnels are made through the management API; one child
// process (idle-agents.mjs) holds a light agent per tunnel, one HTTP/2 connection each.
//   1. all-in-one restart: SIGTERM st-server, start it again; time from its ready line until the
//      victim's tunnel serves again (target ≤ 1 s);
//   2. 10,000 agents dial (1,000 at a time): time until all are welcomed, st-server's RSS and per
//      tunnel (target ≤ 300 MB), the victim's latency meanwhile;
//   3. broker restart under 10,000 agents: time from ready until all are welcomed again (target
//      ≤ 10 s), until a sample of the light tunnels answers and until the victim serves; the
//      victim's latency once it is back, while the others reconnect.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { Pool } from 'undici';
import { freePort } from './net.mjs';
import { forkWorker } from './worker-process.mjs';
import { CpuMeter } from './cpu-meter.mjs';
import { memoryOf, treeCpuMs } from './procs.mjs';
import { baseEnv, binPath, startAgent, startMock } from './stack.mjs';
import { waitForHttp } from './ssh-tunnel.mjs';
import { fmt, percentile, table } from './stats.mjs';

const MiB = 1024 * 1024;

/** Settings of the hardening work these phases would hit, raised for the bench only. */
const SERVER_LIMITS = {
  // One user (the bench's) owns 10,000 tunnels and the victim sends 50 requests/s.
  ST_LIMIT_USER_RPS: '0',
  ST_MAX_REQUESTS_PER_CONNECTION: '0',
  ST_SHUTDOWN_GRACE_MS: '1000',
};

async function startServer(ctx, st) {
  // BENCH_IDLE_SERVER_ARGS: node flags for st-server (e.g. --heapsnapshot-signal=SIGUSR2).
  const nodeArgs = (process.env.BENCH_IDLE_SERVER_ARGS ?? '').split(' ').filter(Boolean);
  const entry = ctx.procs.spawn('st-server', process.execPath, [...nodeArgs, binPath(ctx.root, 'server')], {
    cwd: ctx.root,
    env: baseEnv({
      ST_DATA_DIR: st.dataDir,
      ST_HOST: '127.0.0.1',
      ST_HTTP_PORT: String(st.httpPort),
      ST_GRPC_PORT: String(st.grpcPort),
      ST_ADMIN_TOKEN: st.adminToken,
      ...SERVER_LIMITS,
      ...extraServerEnv(),
    }),
  });
  await ctx.procs.waitForLine(entry, /st-server ready: gateway/, 30_000);
  st.server = entry;
  return Date.now();
}

/** BENCH_IDLE_SERVER_ENV='K=V …': more st-server settings (e.g. ST_LIGHT_AGENT_STREAMS=false to compare). */
function extraServerEnv() {
  const pairs = (process.env.BENCH_IDLE_SERVER_ENV ?? '').split(' ').filter(Boolean);
  return Object.fromEntries(pairs.map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]));
}

/** SIGTERM, wait for the exit, start again: { stopMs, readyAt }. */
async function restartServer(ctx, st) {
  const t0 = Date.now();
  await ctx.procs.stop(st.server, 15_000);
  const stopMs = Date.now() - t0;
  const readyAt = await startServer(ctx, st);
  return { stopMs, readyAt };
}

/** Polls `path` every 10 ms until it answers 200; ms after `since` (undefined on timeout). */
async function firstServe(pool, path, headers, since, timeoutMs = 30_000, pollMs = 10) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await pool.request({ path, method: 'GET', headers, headersTimeout: 2000, bodyTimeout: 2000 });
      await res.body.dump();
      if (res.statusCode === 200) return Date.now() - since;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return undefined;
}

/** The victim: a small chat completion every `everyMs` (open loop); stop() → the samples. */
function victimLoop(pool, prefix, headers, everyMs = 20) {
  const samples = [];
  const body = JSON.stringify({ model: 'mock-llama-3-8b', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 });
  const inflight = new Set();
  const one = async () => {
    const t = Date.now();
    const started = performance.now();
    try {
      const res = await pool.request({ path: `${prefix}/v1/chat/completions`, method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body, headersTimeout: 30_000 });
      await res.body.dump();
      samples.push({ t, ms: performance.now() - started, status: res.statusCode });
    } catch (err) {
      samples.push({ t, ms: performance.now() - started, status: 0, error: err.code ?? err.message });
    }
  };
  const timer = setInterval(() => {
    const p = one();
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  }, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(inflight);
      return samples;
    },
  };
}

function summarise(samples) {
  const ok = samples.filter((s) => s.status === 200).map((s) => s.ms);
  return { count: samples.length, errors: samples.length - ok.length, p50: percentile(ok, 50), p99: percentile(ok, 99), max: ok.length ? Math.max(...ok) : undefined };
}

function management(root, grpcPort) {
  const def = protoLoader.loadSync('sessiontunnel/v1/management.proto', { includeDirs: [join(root, 'proto')], keepCase: false, defaults: true, oneofs: true, longs: String, enums: String });
  const v1 = grpc.loadPackageDefinition(def).sessiontunnel.v1;
  const address = `127.0.0.1:${grpcPort}`;
  const creds = grpc.credentials.createInsecure();
  const clients = { users: new v1.UserService(address, creds), sessions: new v1.SessionService(address, creds), tunnels: new v1.TunnelManagerService(address, creds) };
  const call = (client, method, request, secret) =>
    new Promise((resolve, reject) => {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${secret}`);
      client[method](request, md, { deadline: Date.now() + 30_000 }, (err, res) => (err ? reject(new Error(`${method}: ${err.message}`)) : resolve(res)));
    });
  return { ...clients, call, close: () => Object.values(clients).forEach((c) => c.close()) };
}

/** A user with `n` tunnels (management API, 32 calls at a time): { apiKey, tunnels: [{ id, token }] }. */
async function createTunnels(ctx, st, n, upstreamPort) {
  const m = management(ctx.root, st.grpcPort);
  try {
    const { apiKey } = await m.call(m.users, 'createUser', { name: 'idle' }, st.adminToken);
    const { session } = await m.call(m.sessions, 'startSession', { name: 'idle' }, apiKey);
    const tunnels = new Array(n);
    let next = 0;
    const worker = async () => {
      while (next < n) {
        const i = next++;
        const r = await m.call(m.tunnels, 'createTunnel', { sessionId: session.id, name: `idle-${i}`, remoteHost: '127.0.0.1', remotePort: upstreamPort, openai: true }, apiKey);
        tunnels[i] = { id: r.tunnel.id, token: r.agentToken };
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    return { apiKey, tunnels };
  } finally {
    m.close();
  }
}

function forkAgents(ctx) {
  return forkWorker(ctx.procs, { name: 'idle-agents', script: 'idle-agents.mjs', label: 'idle agents', execArgv: ['--max-old-space-size=4096'] });
}

/** RSS once it stopped moving (GC and lazily freed buffers settle over a few seconds). */
async function settledRss(pid, ms = 3000) {
  await new Promise((r) => setTimeout(r, ms));
  return memoryOf(pid);
}

export async function run(ctx) {
  const n = ctx.quick ? 1000 : Number(process.env.BENCH_IDLE_TUNNELS) || 10_000;
  const restarts = Number(process.env.BENCH_IDLE_RESTARTS) || (ctx.quick ? 2 : 5);
  const { log, procs } = ctx;
  const st = { dataDir: procs.tmpDir('idle-data'), httpPort: await freePort(), grpcPort: await freePort(), adminToken: `bench-admin-${randomBytes(12).toString('hex')}` };
  const mock = await startMock(procs, ctx.root);
  const { execFileSync } = await import('node:child_process');
  const demo = JSON.parse(execFileSync(process.execPath, [binPath(ctx.root, 'server'), 'demo-init'], { cwd: ctx.root, env: baseEnv({ ST_DATA_DIR: st.dataDir }), encoding: 'utf8' }).trim().split('\n').pop());
  await startServer(ctx, st);
  const gateway = `http://127.0.0.1:${st.httpPort}`;
  const pool = new Pool(gateway, { connections: 16 });
  const victim = { prefix: `/t/${demo.tunnelId}`, headers: { authorization: `Bearer ${demo.apiKey}` } };
  const victimAgent = startAgent(procs, ctx.root, 'st-agent', { grpcPort: st.grpcPort, token: demo.agentToken, upstreamUrl: mock.url });
  await waitForHttp(`${gateway}${victim.prefix}/v1/models`, victimAgent, 20_000, victim.headers);
  const figures = { n, allInOne: [], settings: SERVER_LIMITS };

  // 1. The all-in-one restart with one real st-agent.
  log(`idle tunnels: ${restarts} all-in-one restarts with one st-agent`);
  for (let i = 0; i < restarts; i++) {
    // The agent's stream must have served a while (a stream lost at once is a flapping broker).
    await new Promise((r) => setTimeout(r, 6000));
    const { stopMs, readyAt } = await restartServer(ctx, st);
    const serveMs = await firstServe(pool, `${victim.prefix}/v1/models`, victim.headers, readyAt);
    figures.allInOne.push({ stopMs, readyToServeMs: serveMs });
    log(`  restart ${i + 1}: stopped in ${stopMs} ms, serving ${serveMs ?? 'never'} ms after ready`);
  }

  // 2. n idle tunnels dial a freshly started broker.
  log(`idle tunnels: creating ${n} tunnels through the management API`);
  const t0 = Date.now();
  const { apiKey, tunnels } = await createTunnels(ctx, st, n, mock.port);
  figures.createMs = Date.now() - t0;
  log(`  ${n} tunnels in ${figures.createMs} ms; restarting st-server for a clean baseline`);
  await restartServer(ctx, st);
  await firstServe(pool, `${victim.prefix}/v1/models`, victim.headers, Date.now());
  figures.baseline = await settledRss(st.server.child.pid, 2000);
  const base = victimLoop(pool, victim.prefix, victim.headers);
  await new Promise((r) => setTimeout(r, 2000));
  figures.victimBaseline = summarise(await base.stop());
  const agents = forkAgents(ctx);
  const during = victimLoop(pool, victim.prefix, victim.headers);
  const cpu0 = { server: treeCpuMs([st.server.child.pid]), agents: treeCpuMs([agents.entry.child.pid]) };
  const machine0 = ctx.meter?.snapshot();
  const started = await agents.rpc('start', { root: ctx.root, url: `http://127.0.0.1:${st.grpcPort}`, tokens: tunnels.map((t) => t.token), concurrency: 1000 });
  figures.quickPolicy = started.quickPolicy;
  const all = await agents.rpc('waitServing', { n, timeoutMs: 120_000 });
  figures.connectCpu = { server: treeCpuMs([st.server.child.pid]) - cpu0.server, agents: treeCpuMs([agents.entry.child.pid]) - cpu0.agents };
  figures.connectForeignCores = machine0 ? CpuMeter.delta(machine0, ctx.meter.snapshot()).foreignCores : undefined;
  figures.victimConnect = summarise(await during.stop());
  figures.connectAllMs = all.at ? all.at - started.startedAt : undefined;
  figures.connectServing = all.serving;
  log(`  ${all.serving}/${n} welcomed ${figures.connectAllMs ?? 'never'} ms after the first dial`);
  figures.loaded = await settledRss(st.server.child.pid);
  figures.perTunnelBytes = (figures.loaded.rss - figures.baseline.rss) / n;
  figures.agentsRss = (await agents.rpc('stats')).rss;
  const sample = [];
  for (let i = 0; i < Math.min(50, n); i++) sample.push(tunnels[Math.floor((i * n) / Math.min(50, n))]);
  const sampleServe = async (since) => {
    const times = await Promise.all(sample.map((t) => firstServe(pool, `/t/${t.id}/v1/models`, { authorization: `Bearer ${apiKey}` }, since, 60_000, 100)));
    return times.some((x) => x === undefined) ? undefined : Math.max(...times);
  };
  figures.sampleBeforeMs = await sampleServe(Date.now());

  // 3. The broker restarts under all of them.
  log(`idle tunnels: restarting st-server under ${n} agents`);
  await agents.rpc('resetStats');
  const { stopMs, readyAt } = await restartServer(ctx, st);
  const cpu1 = { server: treeCpuMs([st.server.child.pid]), agents: treeCpuMs([agents.entry.child.pid]) };
  const machine1 = ctx.meter?.snapshot();
  // The victim's requests while the others reconnect: from its first success until all are back (+3 s).
  let storm;
  const [again, victimMs, sampleMs] = await Promise.all([
    agents.rpc('waitServing', { n, timeoutMs: 120_000 }),
    firstServe(pool, `${victim.prefix}/v1/models`, victim.headers, readyAt, 60_000).then((v) => {
      storm = victimLoop(pool, victim.prefix, victim.headers);
      return v;
    }),
    sampleServe(readyAt),
  ]);
  const stormCpu = { server: treeCpuMs([st.server.child.pid]) - cpu1.server, agents: treeCpuMs([agents.entry.child.pid]) - cpu1.agents };
  const stormForeign = machine1 ? CpuMeter.delta(machine1, ctx.meter.snapshot()).foreignCores : undefined;
  await new Promise((r) => setTimeout(r, 3000));
  figures.victimStorm = summarise(await storm.stop());
  const stats = await agents.rpc('stats');
  figures.restart = {
    stopMs,
    readyToAllMs: again.at ? again.at - readyAt : undefined,
    serving: again.serving,
    readyToVictimMs: victimMs,
    readyToSampleMs: sampleMs,
    cpu: stormCpu,
    foreignCores: stormForeign,
    failedAttempts: stats.attempts.total,
    failures: Object.entries(stats.attempts.byCode).sort((a, b) => b[1] - a[1]).slice(0, 4),
  };
  figures.afterRestart = memoryOf(st.server.child.pid);
  log(`  all ${again.serving}/${n} back ${figures.restart.readyToAllMs ?? 'never'} ms after ready; victim ${victimMs} ms, sample ${sampleMs} ms`);
  await agents.rpc('close').catch(() => {});
  await pool.close();
  return figures;
}

const ms = (v) => (v === undefined ? 'n/a' : `${fmt(v, 0)} ms`);
const mb = (v) => (v === undefined ? 'n/a' : `${fmt(v / MiB, 0)} MB`);
const mark = (ok) => (ok === undefined ? '' : ok ? ' ✓' : ' ✗');
const foreign = (cores) => (cores === undefined ? 'n/a' : `${fmt(cores * 100, 0)}% of a core${cores > 0.2 ? ' ⚠' : ''}`);
const cpuPer = (cpu, n) => (cpu ? `${fmt((cpu.server * 1000) / n, 0)} / ${fmt((cpu.agents * 1000) / n, 0)} µs` : 'n/a');
const victimRow = (label, v) => [label, v ? `${fmt(v.p50, 1)} / ${fmt(v.p99, 1)} / ${fmt(v.max, 0)} ms` : 'n/a', v ? `${v.errors}/${v.count}` : 'n/a'];

export function render(f) {
  const serve = f.allInOne.map((r) => r.readyToServeMs);
  const worst = serve.some((x) => x === undefined) ? undefined : Math.max(...serve);
  const rows = [
    ['all-in-one restart: ready → tunnel serves (each run)', `${serve.map((x) => (x === undefined ? 'never' : fmt(x, 0))).join(', ')} ms`, `≤ 1,000 ms${mark(worst === undefined ? false : worst <= 1000)}`],
    [`${f.n} tunnels created (management API)`, ms(f.createMs), ''],
    [`${f.n} agents dial: all welcomed`, ms(f.connectAllMs), ''],
    ['st-server RSS: before / with all tunnels (peak)', `${mb(f.baseline.rss)} / ${mb(f.loaded.rss)} (${mb(f.loaded.hwm)})`, `≤ 300 MB${mark(f.n >= 10_000 ? f.loaded.rss <= 300 * MiB : undefined)}`],
    ['per idle tunnel', `${fmt(f.perTunnelBytes / 1024, 1)} KB`, ''],
    ['CPU per welcome while they dial: st-server / load process', cpuPer(f.connectCpu, f.n), ''],
    ['broker restart: SIGTERM → exited', ms(f.restart.stopMs), ''],
    [`broker restart: ready → all ${f.n} welcomed again`, `${ms(f.restart.readyToAllMs)} (${f.restart.serving}/${f.n})`, `≤ 10,000 ms${mark(f.restart.readyToAllMs === undefined ? false : f.restart.readyToAllMs <= 10_000)}`],
    ['broker restart: ready → 50 sampled tunnels answer', ms(f.restart.readyToSampleMs), ''],
    ['broker restart: ready → victim (real st-agent) serves', ms(f.restart.readyToVictimMs), ''],
    ['CPU per welcome in the storm: st-server / load process', cpuPer(f.restart.cpu, f.n), ''],
    ['other jobs on the machine while they dial / in the storm', `${foreign(f.connectForeignCores)} / ${foreign(f.restart.foreignCores)}`, ''],
    ['failed dials during the storm', String(f.restart.failedAttempts), ''],
    ['st-server RSS after the storm (peak)', `${mb(f.afterRestart.rss)} (${mb(f.afterRestart.hwm)})`, ''],
    ['load process RSS', mb(f.agentsRss), ''],
  ];
  const victims = [
    victimRow('before (2 s)', f.victimBaseline),
    victimRow(`while ${f.n} agents dial`, f.victimConnect),
    victimRow('after the restart, until all are back (+3 s)', f.victimStorm),
  ];
  const failures = f.restart.failures.map(([k, c]) => `    ${c}× ${k}`).join('\n');
  return (
    `\n## ${f.n} idle tunnels on one broker${f.quickPolicy ? '' : ' (agents without the quick reconnect window)'}\n\n` +
    `${table(['figure', 'value', 'target'], rows)}\n\n` +
    `victim (small chat completion every 20 ms through its own tunnel):\n${table(['window', 'p50 / p99 / max', 'failed'], victims)}\n` +
    (failures ? `\nfailed dials by status:\n${failures}\n` : '') +
    `settings raised for the bench: ${Object.entries(f.settings).map(([k, v]) => `${k}=${v}`).join(' ')}\n`
  );
}
