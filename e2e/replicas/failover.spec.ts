import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Redis from 'ioredis';
import { RedisPresence } from '@st/live-state';
import { silentLogger } from '@st/logging';
import { type LoadRecord, ReplicaStack, SteadyLoad, type Tenant, waitUntil, watchProvidersGrpc } from '@st/testing';
import { MODEL, type TunnelJson, chatAnswer, chatStatus, openai, waitForReadiness } from './support';

// Restarts under steady load through both gateways: brokers killed -9 one after the other, a
// rolling SIGTERM restart of all three, and the test's own Redis killed and started again.
// The issue's figure for a kill is one second until new requests succeed (the bench measures
// it); here "a few seconds" is five, several times that, for a busy two-core machine.
const KILL_BOUND_MS = 5_000;
const CHANGE_BOUND_MS = 5_000;
/** Answers of 40 tokens 40 ms apart: about 1.6 s each, so some are always in flight. */
const LOAD = { concurrency: 8, maxTokens: 40, tokenDelayMs: 40 };

let stack: ReplicaStack;
let alice: Tenant;

beforeAll(async () => {
  stack = await ReplicaStack.start();
  alice = await stack.createTenant('alice');
  stack.startAgent(alice.agentToken);
  await stack.waitForStreams(alice);
}, 240_000);

afterAll(async () => {
  await stack?.stop();
});

/** Exchanges open on the tunnel's streams held by `brokerId`, as its broker last published them. */
async function inFlightOn(brokerId: string): Promise<number> {
  // A client of its own that queues commands until it is connected (the product's fails fast).
  const presence = new RedisPresence({ client: new Redis(stack.redis.url), logger: silentLogger() });
  try {
    return (await presence.streamsOf(alice.tunnelId)).filter((e) => e.brokerId === brokerId).reduce((sum, e) => sum + (e.load ?? 0), 0);
  } finally {
    await presence.close();
  }
}

function startLoad(): SteadyLoad {
  return SteadyLoad.start({ baseURLs: stack.baseURLs(alice.tunnelId), apiKey: alice.apiKey, model: MODEL, ...LOAD });
}

describe('restarts under steady load', () => {
  it('kill -9 of each broker in turn: only answers in flight on it, or sent within a few seconds of the kill, fail, and each visibly', async () => {
    const load = startLoad();
    const kills: { id: string; at: number; held: boolean }[] = [];
    try {
      await load.waitForEnded(performance.now(), 4, 60_000, true);
      for (const broker of stack.brokers) {
        const held = (await stack.waitForStreams(alice, { timeoutMs: 60_000 })).some((c) => c.brokerId === broker.id);
        // Kill a broker that holds a stream only while answers run on it (its presence entry's
        // load, renewed with the lease): the gateways may still be shifting load back to a
        // stream that came back a moment ago, and a kill that cuts nothing proves nothing.
        if (held) await waitUntil(`answers in flight on ${broker.id}`, async () => (await inFlightOn(broker.id)) > 0, 30_000, 50);
        const at = performance.now();
        await broker.kill();
        kills.push({ id: broker.id, at, held });
        // Evidence past the bound: requests sent after it have ended through both gateways.
        await load.waitForEnded(at + KILL_BOUND_MS, 4, 60_000, true);
        await broker.start();
      }
      await stack.waitForStreams(alice, { timeoutMs: 60_000 });
      await load.waitForEnded(performance.now(), 4, 60_000, true);
    } finally {
      await load.stop();
    }
    const excused = (r: LoadRecord) => kills.some((k) => r.start <= k.at + KILL_BOUND_MS && r.end >= k.at);
    const unexcused = load.failures().filter((r) => !excused(r));
    expect(unexcused, `kills at ${kills.map((k) => `${k.id} t=${k.at.toFixed(0)}`).join(', ')}\n${load.summary(unexcused)}`).toEqual([]);
    // A cut answer never passes for a whole one: no stream ends with [DONE] (or quietly) short.
    const quiet = load.records.filter((r) => r.outcome === 'short');
    expect(quiet, load.summary(quiet)).toEqual([]);
    // A stream cut after its head ends with an SSE error event, which the client raises.
    const cutStreams = load.failures().filter((r) => r.stream && r.headStatus === 200);
    expect(cutStreams.filter((r) => !r.sawErrorEvent || r.sawDone), load.summary(cutStreams)).toEqual([]);
    // Else the kills cut nothing and the assertions above proved nothing.
    const cut = load.failures().filter((r) => kills.some((k) => k.held && r.start < k.at && r.end >= k.at));
    expect(kills.some((k) => k.held)).toBe(true);
    expect(cut.length, `no answer in flight was cut by the kills of ${kills.filter((k) => k.held).map((k) => k.id).join(', ')}: ${load.summary()}`).toBeGreaterThan(0);
  }, 600_000);

  it('a rolling SIGTERM restart of all three brokers loses no request', async () => {
    await stack.waitForStreams(alice, { timeoutMs: 60_000 });
    const load = startLoad();
    try {
      await load.waitForEnded(performance.now(), 4, 60_000, true);
      for (const broker of stack.brokers) {
        await stack.waitForStreams(alice, { timeoutMs: 60_000 });
        const before = performance.now();
        // It exits once its streams finished their answers (well inside ST_SHUTDOWN_GRACE_MS).
        const exit = await broker.terminate(30_000);
        expect(exit, broker.process.describe()).toMatchObject({ code: 0, signal: null });
        await load.waitForEnded(before, 4, 60_000, true);
        await broker.start();
      }
      await stack.waitForStreams(alice, { timeoutMs: 60_000 });
      await load.waitForEnded(performance.now(), 4, 60_000, true);
    } finally {
      await load.stop();
    }
    expect(load.failures(), load.summary()).toEqual([]);
    expect(load.records.length).toBeGreaterThan(30);
  }, 600_000);

  it("while the test's own Redis is down: readiness says degraded, and the tunnel keeps answering through both gateways", async () => {
    await stack.waitForStreams(alice, { timeoutMs: 60_000 });
    // "Last known": each gateway has routed the tunnel before Redis goes away.
    for (const baseURL of stack.baseURLs(alice.tunnelId)) expect(await chatStatus(baseURL, alice.apiKey), baseURL).toBe(200);
    await stack.redis.stop();
    try {
      for (const origin of [...stack.gatewayUrls, stack.discoveryHttpUrl]) await waitForReadiness(origin, 'degraded', CHANGE_BOUND_MS);
      // Brokers keep their streams and gateways route from the presence they last knew.
      for (const baseURL of stack.baseURLs(alice.tunnelId)) {
        const answer = await chatAnswer(baseURL, alice.apiKey);
        expect(answer.status, `${baseURL}: ${answer.text}`).toBe(200);
      }
    } finally {
      await stack.redis.restart();
    }
  }, 120_000);

  it("the test's own Redis killed and started again (empty): everything converges", async () => {
    const asAlice = { ST_API_KEY: alice.apiKey };
    await stack.waitForStreams(alice, { timeoutMs: 60_000 });
    // A watcher open across the restart: discovery resyncs it while presence is still empty, so
    // it sees the tunnel `waiting` for a moment, and must then see it running again without any
    // change to the tunnel (the brokers write their entries again and say so).
    const watch = watchProvidersGrpc(stack.api.discovery, alice.apiKey);
    const isAlice = (e: { provider?: { id: string } }) => e.provider?.id === alice.tunnelId;
    await watch.waitFor('alice running', (e) => isAlice(e) && e.provider!.status === 'running', 0, CHANGE_BOUND_MS);
    await stack.redis.stop();
    await stack.redis.restart();
    for (const origin of [...stack.gatewayUrls, stack.discoveryHttpUrl]) await waitForReadiness(origin, 'ok', 15_000);
    // The emptied Redis is filled again: presence, and so discovery's view of the tunnel.
    await stack.waitForStreams(alice, { timeoutMs: 30_000 });
    try {
      await waitUntil(
        "the watcher's last view of alice's tunnel to be running again",
        () => watch.events.filter(isAlice).at(-1)?.provider?.status === 'running',
        CHANGE_BOUND_MS * 2,
        50,
      );
    } finally {
      watch.close();
    }
    const tunnel = await stack.stctlJson<TunnelJson>(['tunnels', 'get', alice.tunnelId], asAlice);
    expect(tunnel.status).toBe('running');
    expect(new Set(tunnel.connections.map((c) => c.brokerId)).size).toBe(2);
    for (const baseURL of stack.baseURLs(alice.tunnelId)) {
      await waitUntil(`200 from ${baseURL} after the Redis restart`, async () => (await chatStatus(baseURL, alice.apiKey)) === 200, CHANGE_BOUND_MS, 100);
      const answer = await openai(baseURL, alice.apiKey).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'after redis' }], max_tokens: 5 });
      expect(answer.choices[0].message.content).toMatch(/^( \w+){5}$/);
    }
    // The change feed is back too: a stop made now reaches both gateways, and a start again.
    await stack.stctlJson(['tunnels', 'stop', alice.tunnelId], asAlice);
    for (const baseURL of stack.baseURLs(alice.tunnelId)) {
      await waitUntil(`503 from ${baseURL} after the stop`, async () => (await chatStatus(baseURL, alice.apiKey)) === 503, CHANGE_BOUND_MS, 50);
    }
    await stack.stctlJson(['tunnels', 'start', alice.tunnelId], asAlice);
    await stack.waitForStreams(alice, { timeoutMs: 30_000 });
    for (const baseURL of stack.baseURLs(alice.tunnelId)) {
      await waitUntil(`200 from ${baseURL} after the start`, async () => (await chatStatus(baseURL, alice.apiKey)) === 200, CHANGE_BOUND_MS, 50);
    }
  }, 180_000);
});
