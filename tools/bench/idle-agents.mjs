// The idle-tunnel phase's agents: a child of run-bench.mjs (forked with IPC) holding one light
// agent (lib/light-agent.mjs) per tunnel, each with one HTTP/2 connection and one Connect stream.
// st-agent's reconnect policy is not copied: libs/agent/src/reconnect-backoff.ts and
// retry-delay.ts are bundled from the source tree at start, so the phase measures whatever the
// product does.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { LightAgent } from './lib/light-agent.mjs';

/** st-agent's policy, from its sources (esbuild, a devDependency of the repo). */
function loadPolicy(root) {
  const require = createRequire(join(root, 'package.json'));
  const esbuild = require('esbuild');
  const out = esbuild.buildSync({
    stdin: {
      contents: "export * from './reconnect-backoff'; export * from './retry-delay';",
      // BENCH_AGENT_POLICY_DIR: another revision's copies of the two files (before/after comparisons).
      resolveDir: process.env.BENCH_AGENT_POLICY_DIR || join(root, 'libs', 'agent', 'src'),
      loader: 'ts',
    },
    bundle: true,
    format: 'cjs',
    platform: 'node',
    external: ['@grpc/grpc-js'],
    write: false,
    logLevel: 'silent',
  });
  const mod = { exports: {} };
  // The bundle's require('@grpc/grpc-js') resolves from the repository, not from the temp dir.
  new Function('module', 'exports', 'require', out.outputFiles[0].text)(mod, mod.exports, require);
  return mod.exports;
}

let agents = [];
let policy;
let serving = 0;
/** Waiters for "at least n serving": { n, resolve }. */
let waiters = [];
const attempts = { total: 0, byCode: {} };

const hooks = {
  welcomed() {
    serving++;
    const now = Date.now();
    waiters = waiters.filter((w) => {
      if (serving < w.n) return true;
      w.resolve(now);
      return false;
    });
  },
  lost() {
    serving--;
  },
  attempt(outcome) {
    if (outcome.welcomed) return;
    attempts.total++;
    const key = `${outcome.code} ${String(outcome.reason).slice(0, 60)}`;
    attempts.byCode[key] = (attempts.byCode[key] ?? 0) + 1;
  },
};

const commands = {
  /** Starts one agent per token, dialling at most `concurrency` at a time until all are welcomed once. */
  async start({ root, url, tokens, concurrency = 256 }) {
    policy ??= loadPolicy(root);
    const stableMs = 30_000;
    agents = tokens.map(
      (token, index) => new LightAgent({ url, token, index, backoff: new policy.ReconnectBackoff(), retryDelay: policy.retryDelay, stableMs, hooks }),
    );
    const startedAt = Date.now();
    let next = 0;
    // Dials in waves so that the first connect is paced by the broker's answers, not by a SYN flood.
    await new Promise((resolve) => {
      const inFlight = () => next - serving;
      const pump = () => {
        while (next < agents.length && inFlight() < concurrency) agents[next++].start();
        if (next >= agents.length) resolve();
        else setTimeout(pump, 5);
      };
      pump();
    });
    return { startedAt, quickPolicy: typeof policy.ReconnectBackoff.prototype.connectionLost === 'function' };
  },
  /** Resolves with the time (epoch ms) at which `n` agents were serving at once. */
  waitServing({ n, timeoutMs }) {
    if (serving >= n) return Promise.resolve({ at: Date.now(), serving });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        waiters = waiters.filter((w) => w !== waiter);
        resolve({ at: undefined, serving });
      }, timeoutMs);
      const waiter = {
        n,
        resolve: (at) => {
          clearTimeout(timer);
          resolve({ at, serving });
        },
      };
      waiters.push(waiter);
    });
  },
  stats() {
    return { serving, attempts: structuredClone(attempts), rss: process.memoryUsage().rss };
  },
  resetStats() {
    attempts.total = 0;
    attempts.byCode = {};
    return {};
  },
  close() {
    for (const a of agents) a.stop();
    setTimeout(() => process.exit(0), 200);
    return {};
  },
};

process.on('message', async (msg) => {
  try {
    const result = await commands[msg.cmd](msg);
    process.send({ id: msg.id, ok: true, result });
  } catch (err) {
    process.send({ id: msg.id, ok: false, error: err?.stack ?? String(err) });
  }
});
process.on('disconnect', () => process.exit(0));
