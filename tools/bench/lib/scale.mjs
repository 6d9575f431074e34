// The scale section (issue 8): brokers, gateways and discovery as separate processes on one
// PostgreSQL database and one Redis, on loopback.
//   throughput   small requests/s through both gateways with one broker, then with three
//   kill -9      per broker: how long after its kill requests still fail (goal: under 1 s)
//   rolling      SIGTERM restart of every broker in turn under load: failed requests (goal: 0)
//   stop         a session stopped through discovery: until both gateways answer 503 and a
//                watcher sees it stopped (goal: under 1 s)
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startReplicas } from './replicas.mjs';
import { measureSessionStop } from './revocation-delay.mjs';
import { startMock } from './stack.mjs';
import { fmt } from './stats.mjs';

const CHAT = '/v1/chat/completions';

/** Requests/s at concurrency `c` split over both gateways, from the load generator process. */
async function throughput(rpc, replicas, { concurrency, warmupMs, durationMs }) {
  const targets = {};
  replicas.gatewayOrigins.forEach((origin, i) => {
    targets[`gateway-${i + 1}`] = { origin, prefix: `/t/${replicas.tunnelId}`, headers: { authorization: `Bearer ${replicas.apiKey}` } };
  });
  await rpc('setup', { targets });
  const names = Object.keys(targets);
  const results = await Promise.all(names.map((path) => rpc('latency', { path, concurrency: Math.ceil(concurrency / names.length), warmupMs, durationMs })));
  const completed = results.reduce((n, r) => n + r.completed, 0);
  const elapsedMs = Math.max(...results.map((r) => r.elapsedMs));
  return { rps: completed / (elapsedMs / 1000), completed, errors: results.reduce((n, r) => n + r.errors, 0) };
}

/**
 * Closed loops of small requests from this process through both gateways, each request recorded
 * with its start, end and outcome (performance.now()).
 */
function steadyLoad(replicas, concurrency) {
  const records = [];
  let running = true;
  const body = JSON.stringify({ model: 'mock-llama-3-8b', messages: [{ role: 'user', content: 'scale' }], max_tokens: 8 });
  const loops = Array.from({ length: concurrency }, async (_, i) => {
    for (let n = 0; running; n++) {
      const origin = replicas.gatewayOrigins[(i + n) % replicas.gatewayOrigins.length];
      const start = performance.now();
      let ok = false;
      let why;
      try {
        const res = await fetch(`${origin}/t/${replicas.tunnelId}${CHAT}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${replicas.apiKey}`, 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(30_000),
        });
        const text = await res.text();
        ok = res.status === 200 && text.includes('"choices"');
        if (!ok) why = `HTTP ${res.status} ${text.slice(0, 120)}`;
      } catch (err) {
        why = err.message;
      }
      records.push({ start, end: performance.now(), ok, why });
      // A failing path answers at once: without a pause the loops would flood the two cores.
      if (!ok) await new Promise((r) => setTimeout(r, 20));
    }
  });
  return {
    records,
    async stop() {
      running = false;
      await Promise.all(loops);
      return records;
    },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function runScaleSection({ procs, root, log, quick, startLoadgen, waitForQuiet = async () => undefined }) {
  const missing = ['broker', 'gateway', 'discovery', 'cli'].filter((app) => !existsSync(join(root, 'apps', app, 'dist', 'main.js')));
  if (missing.length) throw new Error(`the scale section runs ${missing.map((a) => `apps/${a}/dist/main.js`).join(', ')}: run \`npx nx run-many -t build\` first`);
  const window = quick ? { concurrency: 32, warmupMs: 300, durationMs: 1500 } : { concurrency: 64, warmupMs: 1000, durationMs: 5000 };
  const observeMs = quick ? 3000 : 5000;
  const mock = await startMock(procs, root);
  const { rpc } = startLoadgen();
  const out = { throughput: {}, kills: [], rolling: undefined };

  log('scale section: one broker, two gateways, discovery');
  let replicas = await startReplicas(procs, root, { brokers: 1, mockUrl: mock.url });
  // Other jobs on a shared two-core machine move these figures more than a broker does.
  let busy = await waitForQuiet();
  out.throughput.one = { ...(await throughput(rpc, replicas, window)), busy };
  await replicas.stop();

  log('scale section: three brokers, two gateways, discovery');
  replicas = await startReplicas(procs, root, { brokers: 3, mockUrl: mock.url });
  busy = await waitForQuiet();
  out.throughput.three = { ...(await throughput(rpc, replicas, window)), busy };

  log(`scale section: kill -9 of each broker in turn under load (observing ${observeMs} ms after each)`);
  for (const broker of replicas.brokers) {
    const held = (await replicas.waitHeld()).includes(broker.id);
    const load = steadyLoad(replicas, 8);
    await sleep(500);
    const at = performance.now();
    await broker.kill();
    // Until the agent holds two live brokers again (the killed one is still down: another one).
    let reheldMs;
    const rehold = (async () => {
      while (performance.now() - at < observeMs * 3) {
        const now = await replicas.heldBy();
        // The killed broker's own entry may linger until its lease expires: count the others.
        if (now.filter((id) => id !== broker.id).length >= 2) {
          reheldMs = performance.now() - at;
          return;
        }
        await sleep(100);
      }
    })();
    await sleep(observeMs);
    const records = await load.stop();
    await rehold;
    const failed = records.filter((r) => !r.ok && r.end >= at);
    const lastFailureMs = failed.length ? Math.max(...failed.map((r) => r.end)) - at : 0;
    out.kills.push({ broker: broker.id, held, failed: failed.length, requests: records.filter((r) => r.start >= at).length, lastFailureMs, reheldMs: held ? reheldMs : undefined, firstError: failed[0]?.why });
    await broker.start();
  }
  await replicas.waitHeld();

  log('scale section: rolling SIGTERM restart of the three brokers under load');
  const load = steadyLoad(replicas, 8);
  const t0 = performance.now();
  for (const broker of replicas.brokers) {
    await replicas.waitHeld();
    await broker.terminate(30_000);
    await broker.start();
  }
  await replicas.waitHeld();
  const records = await load.stop();
  const failed = records.filter((r) => !r.ok);
  out.rolling = { requests: records.length, failed: failed.length, seconds: (performance.now() - t0) / 1000, firstError: failed[0]?.why };

  log('scale section: stopping the session through discovery');
  out.stop = await measureSessionStop(root, replicas);
  await replicas.stop();
  await rpc('close').catch(() => {});
  return out;
}

export function renderScale(s) {
  const t1 = s.throughput.one;
  const t3 = s.throughput.three;
  const lines = [
    '',
    '### Scale: split brokers, gateways and discovery on loopback (PostgreSQL, Redis)',
    '',
    '| throughput (small requests, both gateways) | req/s | errors |',
    '| --- | --- | --- |',
    `| one broker | ${fmt(t1.rps, 0)}${t1.busy ? ' ⚠' : ''} | ${t1.errors} |`,
    `| three brokers | ${fmt(t3.rps, 0)}${t3.busy ? ' ⚠' : ''} | ${t3.errors} |`,
    ...[t1.busy, t3.busy].filter(Boolean).map((why) => `\n⚠ ${why}`),
    '',
    '| kill -9 of | held a stream | failed requests | last failure after the kill, ms | goal | held by two brokers again after, ms |',
    '| --- | --- | --- | --- | --- | --- |',
    ...s.kills.map(
      (k) =>
        `| ${k.broker} | ${k.held ? 'yes' : 'no'} | ${k.failed} of ${k.requests} | ${fmt(k.lastFailureMs, 0)} | ${k.lastFailureMs <= 1000 ? 'met' : 'missed'} (< 1000) | ${k.held ? (k.reheldMs === undefined ? 'not within the window' : fmt(k.reheldMs, 0)) : '-'} |`,
    ),
    '',
    'Requests are small (answers of 8 tokens): one that fails before its first byte is retried once on the other stream, so a kill costs only answers already streaming. "Held again" is polled with `stctl tunnels get` (±0.5 s).',
    '',
    `Rolling SIGTERM restart of the three brokers: ${s.rolling.failed} failed of ${s.rolling.requests} requests in ${fmt(s.rolling.seconds, 1)} s (goal 0: ${s.rolling.failed === 0 ? 'met' : 'missed'})`,
  ];
  if (s.stop) {
    const worst = Math.max(...s.stop.gatewaysMs.map((v) => v ?? Infinity), s.stop.watcherMs ?? Infinity);
    const shown = (v) => (v === undefined ? 'not within 10 s' : `${fmt(v, 0)} ms`);
    lines.push(
      '',
      `Session stopped through discovery (StopSession answered in ${fmt(s.stop.writtenMs, 0)} ms): ${s.stop.gatewaysMs.map((v, i) => `gateway ${i + 1} answers 503 after ${shown(v)}`).join(', ')}; a watcher on discovery sees it stopped after ${shown(s.stop.watcherMs)} (goal < 1000 ms: ${worst < 1000 ? 'met' : 'missed'}). Times from the call; 503s are polled every 10 ms.`,
    );
  }
  const errors = [...s.kills.filter((k) => k.firstError).map((k) => `${k.broker}: ${k.firstError}`), ...(s.rolling.firstError ? [`rolling: ${s.rolling.firstError}`] : [])];
  if (errors.length) lines.push('', 'First errors seen:', ...errors.map((e) => `- ${e}`));
  lines.push('');
  return lines.join('\n');
}
