import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AGENT_CONNECTED,
  type DemoCredentials,
  type ManagedProcess,
  type MockModel,
  type Server,
  TestRedisServer,
  cleanupAll,
  demoInit,
  startAgent,
  startMockModel,
  startServer,
  waitForTunnel,
  waitUntil,
  freshDatabase,
} from '@st/testing';
import { MODEL, expectOpenAIError, openai, postJson, userMessage } from './support';
import { TcpBalancer } from './tcp-balancer';

// Two brokers and a gateway in processes of their own, sharing PostgreSQL and a Redis of this
// test's: the gateway has no ST_BROKER_ADDRESS and finds the broker holding the tunnel's stream
// through presence. The agent dials one load-balanced address (as through a Kubernetes Service),
// so when its broker is killed it lands on the other one.


let redis: TestRedisServer | undefined;
let database: { url: string; drop(): Promise<void> } | undefined;
let balancer: TcpBalancer | undefined;
let mock: MockModel;
let brokerA: Server;
let brokerB: Server;
let gateway: Server;
let agent: ManagedProcess;
let demo: DemoCredentials;
let baseURL: string;

beforeAll(async () => {
  redis = await TestRedisServer.start();
  database = await freshDatabase();
  const shared = {
    ST_DATABASE_URL: database.url,
    ST_REDIS_URL: redis.url,
    ST_SERVICE_TOKEN: randomBytes(16).toString('hex'),
    ST_SECRET_KEY: randomBytes(16).toString('hex'),
    ST_ADMIN_TOKEN: `admin-${randomBytes(16).toString('hex')}`,
    ST_HEALTH_INTERVAL_MS: 300,
    ST_SHUTDOWN_GRACE_MS: 500,
  };
  mock = await startMockModel({ ST_MOCK_TOKEN_DELAY_MS: 0 });
  [brokerA, brokerB] = await Promise.all([
    startServer({ ...shared, ST_ROLE: 'broker', ST_BROKER_ID: 'broker-a' }),
    startServer({ ...shared, ST_ROLE: 'broker', ST_BROKER_ID: 'broker-b' }),
  ]);
  gateway = await startServer({ ...shared, ST_ROLE: 'gateway' });
  demo = await demoInit(gateway.dataDir, shared);
  baseURL = `${gateway.publicUrl}/t/${demo.tunnelId}/v1`;
  // Broker A first while it listens, then B: the agent starts on A.
  balancer = await TcpBalancer.start(() => [brokerA.grpcPort!, brokerB.grpcPort!]);
}, 120_000);

afterAll(async () => {
  balancer?.close();
  await cleanupAll();
  await redis?.stop();
  await database?.drop();
});

describe('a gateway routing across brokers', () => {
  it('answers 503 at once, naming the fix, while no broker holds a stream of the tunnel', async () => {
    const error = await expectOpenAIError(await postJson(`${baseURL}/chat/completions`, demo.apiKey, { model: MODEL, messages: userMessage('hi') }), 503);
    expect(error.code).toBe('tunnel_not_connected');
    expect(error.message).toMatch(/has no connected agent: start st-agent/);
  });

  it('finds the broker that holds the stream and answers through it', async () => {
    agent = await startAgent({ ST_BROKER_URL: balancer!.url, ST_TUNNEL_TOKEN: demo.agentToken, ST_UPSTREAM_URL: mock.url });
    const connected = agent.lines.find((l) => AGENT_CONNECTED.test(l.text));
    expect(JSON.parse(connected!.text).brokerId).toBe('broker-a');
    await waitForTunnel(baseURL, demo.apiKey);
    const answer = await openai(baseURL, demo.apiKey).chat.completions.create({ model: MODEL, messages: userMessage('through broker a'), max_tokens: 5 });
    expect(answer.choices[0].message.content).toMatch(/^( \w+){5}$/);
  });

  it('after kill -9 of that broker: its answer in flight ends with an error event, and requests succeed again once the agent is on the other broker', async () => {
    const res = await fetch(`${baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${demo.apiKey}`, 'content-type': 'application/json', 'x-mock-token-delay-ms': '50' },
      body: JSON.stringify({ model: MODEL, messages: userMessage('cut me off'), max_tokens: 400, stream: true }),
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    const decoder = new TextDecoder();
    // The answer is under way on broker A.
    while (!text.includes('data: {')) text += decoder.decode((await reader.read()).value);

    await brokerA.process.kill();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    expect(text).toMatch(/data: \{"error":\{"message":"broker broker-a at 127\.0\.0\.1:\d+, which carried this answer, went away in the middle of it[^"]*","type":"service_unavailable"/);
    expect(text).not.toContain('[DONE]');

    // Today's agent holds one stream: it redials through the balancer and lands on broker B.
    await waitUntil('the agent to connect to broker B', () => agent.lines.some((l) => AGENT_CONNECTED.test(l.text) && l.text.includes('"brokerId":"broker-b"')), 20_000);
    const client = openai(baseURL, demo.apiKey);
    const ask = () => client.chat.completions.create({ model: MODEL, messages: userMessage('through broker b'), max_tokens: 3 });
    // B's stream reaches presence within a health report or two of the agent's Welcome.
    await waitUntil('a request to succeed through broker B', async () => (await ask()).choices.length === 1, 10_000);
    // Broker A's lease may still be in presence: every request still succeeds (A is tried last,
    // and an attempt on it is retried on B).
    for (let i = 0; i < 5; i++) expect((await ask()).choices[0].message.content).toMatch(/^( \w+){3}$/);
   }, 60_000);

  it('keeps ready while Redis is down and says degraded; requests keep routing from the last known presence', async () => {
    const ready = async () => (await (await fetch(`${gateway.publicUrl}/readyz`)).json()) as { status: string; reason?: string };
    expect(await ready()).toEqual({ status: 'ok' });
    await redis!.stop();
    try {
      const degraded = await waitUntil('readiness to say degraded', async () => ((await ready()).status === 'degraded' ? await ready() : undefined), 10_000);
      expect(degraded.reason).toMatch(/Redis is unreachable.*ST_REDIS_URL/);
      const answer = await openai(baseURL, demo.apiKey).chat.completions.create({ model: MODEL, messages: userMessage('redis is down'), max_tokens: 3 });
      expect(answer.choices[0].message.content).toMatch(/^( \w+){3}$/);
    } finally {
      await redis!.restart();
    }
    // A restarted Redis starts empty: broker B writes its stream again with its next lease refresh,
    // and the gateway's next read of presence ends the degraded state.
    const ask = () => postJson(`${baseURL}/chat/completions`, demo.apiKey, { model: MODEL, messages: userMessage('redis is back'), max_tokens: 3 });
    await waitUntil('a request to succeed and readiness to say ok again', async () => (await ask()).status === 200 && (await ready()).status === 'ok', 20_000);
   }, 60_000);
});

