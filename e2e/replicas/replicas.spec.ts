import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplicaStack, type Tenant, connectDiscoveryClient, waitUntil, watchProvidersGrpc } from '@st/testing';
import { MODEL, type TunnelJson, agentLog, chatStatus, openAIError, openai, postChat, randomTunnelId } from './support';

// Three st-broker, two st-gateway and one st-discovery process on one PostgreSQL database and one
// Redis, as a user meets them: tunnels made with stctl against discovery, answers through either
// gateway, the agent held by two brokers. The change feed's promise is "within a second"; the
// bounds below are several times that, for a busy two-core machine.
const CHANGE_BOUND_MS = 5_000;

let stack: ReplicaStack;
let alice: Tenant;
let aliceTunnel: TunnelJson;

beforeAll(async () => {
  stack = await ReplicaStack.start();
  alice = await stack.createTenant('alice');
  stack.startAgent(alice.agentToken);
  await stack.waitForStreams(alice);
  aliceTunnel = await stack.stctlJson<TunnelJson>(['tunnels', 'get', alice.tunnelId], { ST_API_KEY: alice.apiKey });
}, 240_000);

afterAll(async () => {
  await stack?.stop();
});

describe('brokers, gateways and discovery as separate replicas', () => {
  it('a tunnel created through discovery becomes a running provider, held by two distinct brokers', async () => {
    const asAlice = { ST_API_KEY: alice.apiKey };
    expect(aliceTunnel).toMatchObject({ id: alice.tunnelId, status: 'running' });
    const brokers = aliceTunnel.connections.map((c) => c.brokerId);
    expect(new Set(brokers).size, JSON.stringify(aliceTunnel.connections)).toBe(2);
    for (const id of brokers) expect(stack.brokers.map((b) => b.id)).toContain(id);
    for (const c of aliceTunnel.connections) expect(c).toMatchObject({ healthy: true, draining: false, since: expect.any(String) });

    const { providers } = await stack.stctlJson<{ providers: Record<string, unknown>[] }>(['providers', 'list'], asAlice);
    expect(providers).toEqual([expect.objectContaining({ id: alice.tunnelId, status: 'running', healthy: true })]);
    expect((providers[0].connections as unknown[]).length).toBe(2);
  }, 60_000);

  it("both gateways answer as the model server does, streaming and not, and list the provider's models on the unified /v1", async () => {
    const direct = openai(`${stack.mock.url}/v1`, 'not-needed');
    const params = { model: MODEL, messages: [{ role: 'user' as const, content: 'through either gateway' }], max_tokens: 12 };
    const expected = (await direct.chat.completions.create(params)).choices[0].message.content;
    for (const baseURL of stack.baseURLs(alice.tunnelId)) {
      const client = openai(baseURL, alice.apiKey);
      expect((await client.chat.completions.create(params)).choices[0].message.content, baseURL).toBe(expected);
      let streamed = '';
      for await (const chunk of await client.chat.completions.create({ ...params, stream: true })) streamed += chunk.choices[0]?.delta?.content ?? '';
      expect(streamed, baseURL).toBe(expected);
    }
    const unifiedModel = `${aliceTunnel.name}/${MODEL}`;
    for (const gateway of stack.gatewayUrls) {
      const unified = openai(`${gateway}/v1`, alice.apiKey);
      // Models come from the agent's health reports, carried in presence to every gateway.
      const ids = await waitUntil(
        `${unifiedModel} in GET ${gateway}/v1/models`,
        async () => {
          const listed = (await unified.models.list()).data.map((m) => m.id);
          return listed.includes(unifiedModel) ? listed : undefined;
        },
        CHANGE_BOUND_MS,
        100,
      );
      expect(ids).toEqual([unifiedModel]);
      const answer = await unified.chat.completions.create({ ...params, model: unifiedModel });
      expect(answer.choices[0].message.content, gateway).toBe(expected);
    }
  }, 60_000);

  it('another user sees nothing of it through any replica', async () => {
    const bobName = `bob-${randomBytes(3).toString('hex')}`;
    const bob = await stack.stctlJson<{ id: string; apiKey: string }>(['users', 'create', bobName], { ST_ADMIN_TOKEN: stack.adminToken });
    const asBob = { ST_API_KEY: bob.apiKey };
    expect((await stack.stctlJson<{ providers: unknown[] }>(['providers', 'list'], asBob)).providers).toEqual([]);
    expect((await stack.stctlJson<{ tunnels: unknown[] }>(['tunnels', 'list'], asBob)).tunnels).toEqual([]);

    // Someone else's tunnel id is refused exactly like an id that names nothing.
    const missing = randomTunnelId();
    const [theirs, none] = await Promise.all([stack.stctl(['tunnels', 'get', alice.tunnelId, '--json'], asBob), stack.stctl(['tunnels', 'get', missing, '--json'], asBob)]);
    expect(theirs.code, theirs.stderr).toBe(4);
    expect(theirs.stdout).toBe('');
    expect(theirs.stderr.split(alice.tunnelId).join('<id>')).toBe(none.stderr.split(missing).join('<id>'));

    // Discovery's Connect face, on discovery itself and on every gateway.
    for (const origin of [stack.discoveryHttpUrl, ...stack.gatewayUrls]) {
      const providers = await connectDiscoveryClient(origin).listProviders({}, { headers: { authorization: `Bearer ${bob.apiKey}` } });
      expect(providers.providers, origin).toEqual([]);
    }

    for (const gateway of stack.gatewayUrls) {
      const ownedByAlice = await openAIError(await postChat(`${gateway}/t/${alice.tunnelId}/v1`, bob.apiKey), 404);
      const nobodys = await openAIError(await postChat(`${gateway}/t/${missing}/v1`, bob.apiKey), 404);
      expect({ ...ownedByAlice, message: ownedByAlice.message.split(alice.tunnelId).join('<id>') }, gateway).toEqual({
        ...nobodys,
        message: nobodys.message.split(missing).join('<id>'),
      });
      const models = await fetch(`${gateway}/v1/models`, { headers: { authorization: `Bearer ${bob.apiKey}` } });
      expect(models.status).toBe(200);
      expect(((await models.json()) as { data: unknown[] }).data, gateway).toEqual([]);
    }
  }, 90_000);

  it("stopping the session through discovery: both gateways answer 503, every broker drops the agent's streams, a watcher sees stopped", async () => {
    const carol = await stack.createTenant('carol');
    const agent = stack.startAgent(carol.agentToken);
    const held = await stack.waitForStreams(carol);
    const heldBy = held.map((c) => c.brokerId).sort();
    for (const baseURL of stack.baseURLs(carol.tunnelId)) expect(await chatStatus(baseURL, carol.apiKey), baseURL).toBe(200);
    const watch = watchProvidersGrpc(stack.api.discovery, carol.apiKey);
    try {
      await watch.waitFor('carol running', (e) => e.provider?.id === carol.tunnelId && e.provider.status === 'running', 0, CHANGE_BOUND_MS);
      const fromEvent = watch.events.length;
      const fromLine = agent.lines.length;

      const stoppedAt = performance.now();
      const stopped = await stack.stctlJson(['sessions', 'stop', carol.sessionId], { ST_API_KEY: carol.apiKey });
      expect(stopped).toMatchObject({ id: carol.sessionId, status: 'stopped' });

      const event = await watch.waitFor('carol stopped', (e) => e.provider?.id === carol.tunnelId && e.provider.status === 'stopped', fromEvent, CHANGE_BOUND_MS);
      expect(event.at - stoppedAt).toBeLessThan(CHANGE_BOUND_MS);
      for (const baseURL of stack.baseURLs(carol.tunnelId)) {
        await waitUntil(`503 from ${baseURL} after the session stop`, async () => (await chatStatus(baseURL, carol.apiKey)) === 503, CHANGE_BOUND_MS, 50);
        const error = await openAIError(await postChat(baseURL, carol.apiKey), 503);
        expect(error.code, baseURL).toBe('tunnel_stopped');
      }
      // Each broker that held a stream ended it itself: the agent hears of it from every one.
      await waitUntil(
        `the agent to hear from ${heldBy.join(' and ')} that its streams were dropped`,
        () => {
          const dropped = agentLog(agent, fromLine).filter((l) => l.wasConnected === true && typeof l.brokerId === 'string');
          return heldBy.every((id) => dropped.some((l) => l.brokerId === id));
        },
        CHANGE_BOUND_MS,
      );
      expect(await stack.connections(carol)).toEqual([]);
    } finally {
      watch.close();
    }
  }, 120_000);

  it('rotating the token through discovery closes the streams on every broker; the new token serves again', async () => {
    const dave = await stack.createTenant('dave');
    const agent = stack.startAgent(dave.agentToken);
    await stack.waitForStreams(dave);
    for (const baseURL of stack.baseURLs(dave.tunnelId)) expect(await chatStatus(baseURL, dave.apiKey), baseURL).toBe(200);

    const rotated = await stack.stctlJson<{ agentToken: string }>(['tunnels', 'rotate-token', dave.tunnelId], { ST_API_KEY: dave.apiKey });
    expect(rotated.agentToken).not.toBe(dave.agentToken);

    await waitUntil(`no stream of ${dave.tunnelId} left on any broker`, async () => (await stack.connections(dave)).length === 0, CHANGE_BOUND_MS, 100);
    // The agent is told its token is gone (exit 3: do not retry), instead of retrying forever.
    const exit = await Promise.race([agent.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), CHANGE_BOUND_MS))]);
    expect(exit?.code, agent.describe()).toBe(3);
    for (const baseURL of stack.baseURLs(dave.tunnelId)) {
      const error = await openAIError(await postChat(baseURL, dave.apiKey), 503);
      expect(error.code, baseURL).toBe('tunnel_not_connected');
    }
    // No broker takes the old token any more; one with the new token is held by two again.
    for (const url of stack.brokerUrls) {
      const old = stack.startAgent(dave.agentToken, { ST_BROKER_URL: url, ST_BROKER_CONNECTIONS: 1 });
      const oldExit = await Promise.race([old.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000))]);
      expect(oldExit?.code, `${url}\n${old.describe()}`).toBe(3);
    }
    stack.startAgent(rotated.agentToken);
    await stack.waitForStreams(dave);
    for (const baseURL of stack.baseURLs(dave.tunnelId)) {
      await waitUntil(`200 from ${baseURL} with the new token`, async () => (await chatStatus(baseURL, dave.apiKey)) === 200, CHANGE_BOUND_MS, 100);
    }
  }, 120_000);
});
