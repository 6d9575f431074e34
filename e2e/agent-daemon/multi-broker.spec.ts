import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CallerApi,
  ControlPlaneApi,
  type DemoCredentials,
  type ManagedProcess,
  type MockModel,
  type ProcessEnv,
  type Server,
  cleanupAll,
  demoInit,
  startAgent,
  startMockModel,
  startServer,
  waitForTunnel,
  waitUntil,
  freshDatabase,
} from '@st/testing';
import { logEntries, waitForEntries } from './resilience-support';

// Two st-server processes on one PostgreSQL database and no Redis: each broker knows only its
// own streams (Welcome.live_brokers is 1), so the agent is given both URLs as a list.

const MODEL = 'mock-llama-3-8b';
const GRACE_MS = 20_000;

let database: { url: string; drop(): Promise<void> };
let shared: ProcessEnv;
let mock: MockModel;
let servers: [Server, Server];
let demo: DemoCredentials;
let agent: ManagedProcess;

// The default broker id (ST_BROKER_ID unset): this machine's host name and the bound gRPC port.
const brokerId = (s: Server) => `${hostname()}:${s.grpcPort}`;
const baseUrl = (s: Server) => `${s.publicUrl}/t/${demo.tunnelId}/v1`;

beforeAll(async () => {
  database = await freshDatabase('st_e2e_agent');
  shared = {
    ST_DATABASE_URL: database.url,
    ST_SECRET_KEY: randomBytes(24).toString('hex'),
    ST_ADMIN_TOKEN: `admin-${randomBytes(16).toString('hex')}`,
    ST_HEALTH_INTERVAL_MS: 300,
    ST_SHUTDOWN_GRACE_MS: GRACE_MS,
  };
  mock = await startMockModel({ ST_MOCK_TOKEN_DELAY_MS: 0 });
  const first = await startServer(shared);
  demo = await demoInit(first.dataDir, shared);
  servers = [first, await startServer(shared)];
  agent = await startAgent(
    {
      ST_BROKER_URL: servers.map((s) => `http://127.0.0.1:${s.grpcPort}`).join(','),
      ST_BROKER_CONNECTIONS: 2,
      ST_TUNNEL_TOKEN: demo.agentToken,
      ST_UPSTREAM_URL: mock.url,
      ST_RECONNECT_MAX_MS: 500,
      ST_DRAIN_GRACE_MS: GRACE_MS,
    },
    { waitForConnected: false },
  );
}, 60_000);

afterAll(async () => {
  await cleanupAll();
  await database?.drop();
});

/** The tunnel's live connections as the broker (st-server) `server` reports them. */
async function connectionsOn(server: Server) {
  const api = new ControlPlaneApi(server.grpcPort!);
  try {
    const caller: CallerApi = api.as(demo.apiKey);
    return (await caller.getTunnel(demo.tunnelId)).connections;
  } finally {
    api.close();
  }
}

/** Waits until `server` reports one healthy, non-draining stream of the agent, held by itself. */
async function heldBy(server: Server) {
  return waitUntil(
    `a healthy stream of the agent on ${brokerId(server)}`,
    async () => {
      const connections = await connectionsOn(server);
      return connections.length === 1 && connections[0].healthy && !connections[0].draining && connections[0].brokerId === brokerId(server) ? connections[0] : undefined;
    },
    20_000,
    100,
  );
}

async function postChat(server: Server): Promise<Response> {
  return fetch(`${baseUrl(server)}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${demo.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }),
  });
}

describe('st-agent held by two brokers', () => {
  it('holds a stream to each broker of its list (one agent instance), and both gateways answer', async () => {
    const [a, b] = await Promise.all(servers.map(heldBy));
    expect(a.agentInstanceId).toMatch(/^[0-9a-f]{16}$/);
    expect(b.agentInstanceId).toBe(a.agentInstanceId);
    expect(logEntries(agent, /^st-agent starting/)[0]).toMatchObject({ agentInstanceId: a.agentInstanceId });
    const connected = await waitForEntries(agent, /^connected to broker$/, 2);
    expect(new Set(connected.map((e) => e.brokerId))).toEqual(new Set(servers.map(brokerId)));
    for (const server of servers) {
      await waitForTunnel(baseUrl(server), demo.apiKey);
      expect((await postChat(server)).status).toBe(200);
    }
  });

  it("on one broker's SIGTERM finishes its open answer, dials a replacement first, keeps answering through the other, and holds both again once it is back", async () => {
    const [a, b] = servers;
    const client = new OpenAI({ baseURL: baseUrl(a), apiKey: demo.apiKey, maxRetries: 0, timeout: 30_000 });
    const stream = await client.chat.completions.create(
      { model: MODEL, messages: [{ role: 'user', content: 'a long answer' }], max_tokens: 40, stream: true },
      { headers: { 'x-mock-token-delay-ms': '50' } },
    );
    const iterator = stream[Symbol.asyncIterator]();
    let content = '';
    while (!content) content += (await iterator.next()).value?.choices[0]?.delta?.content ?? '';
    const drainsBefore = logEntries(agent, /^broker asked to drain/).length;
    const urlA = `http://127.0.0.1:${a.grpcPort}`;
    const dialsToA = () => logEntries(agent, /^cannot connect to the broker; retrying with backoff$/).filter((e) => e.brokerUrl === urlA).length;
    const dialsBefore = dialsToA();
    a.process.child.kill('SIGTERM');
    const [drain] = (await waitForEntries(agent, /^broker asked to drain; opening a replacement stream/, drainsBefore + 1)).slice(-1);
    expect(drain).toMatchObject({ brokerId: brokerId(a) });
    // The replacement is dialled (the draining broker, or its closed port, refuses it) while the
    // stream to the other broker stays as it was.
    await waitUntil('a replacement dialled', () => dialsToA() > dialsBefore, 20_000);

    // The other broker's gateway answers meanwhile, and the open answer on the draining broker
    // finishes whole: the agent serves it to the end before it half-closes that stream.
    for (let i = 0; i < 5; i++) expect((await postChat(b)).status).toBe(200);
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      content += next.value.choices[0]?.delta?.content ?? '';
    }
    expect(content.trim().split(/\s+/)).toHaveLength(40);
    expect(await a.process.exited).toMatchObject({ code: 0 });
    expect(agent.exit).toBeUndefined();

    // The same broker back on its ports: the agent, retrying it, holds both brokers again.
    const restarted = await startServer({ ...shared, ST_GRPC_PORT: a.grpcPort, ST_HTTP_PORT: a.httpPort, ST_DATA_DIR: a.dataDir });
    servers[0] = restarted;
    await Promise.all(servers.map(heldBy));
    await waitForTunnel(baseUrl(restarted), demo.apiKey, 20_000);
    expect((await postChat(restarted)).status).toBe(200);
  });

  it('after kill -9 of one broker, requests through the other still answer and the agent keeps running', async () => {
    const [a, b] = servers;
    const lostBefore = logEntries(agent, /^broker connection lost; reconnecting with backoff$/).length;
    await b.process.kill();
    for (let i = 0; i < 5; i++) expect((await postChat(a)).status).toBe(200);
    const [lost] = (await waitForEntries(agent, /^broker connection lost; reconnecting with backoff$/, lostBefore + 1, 20_000)).slice(-1);
    expect(lost).toMatchObject({ brokerId: brokerId(b) });
    expect((await heldBy(a)).brokerId).toBe(brokerId(a));
    expect(agent.exit).toBeUndefined();
  });
});
