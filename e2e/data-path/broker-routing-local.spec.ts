import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoCredentials, type MockModel, type Server, TestRedisServer, cleanupAll, demoInit, startAgent, startMockModel, startServer, waitForTunnel, waitUntil } from '@st/testing';
import { MODEL, expectOpenAIError, openai, postJson, userMessage } from './support';

// The all-in-one st-server with ST_REDIS_URL: its gateway routes by presence too, and opens the
// streams of its own broker without a gRPC hop to itself; its broker is the authority on them.
let redis: TestRedisServer | undefined;
let mock: MockModel;
let server: Server;
let demo: DemoCredentials;
let baseURL: string;

beforeAll(async () => {
  redis = await TestRedisServer.start();
  mock = await startMockModel({ ST_MOCK_TOKEN_DELAY_MS: 0 });
  server = await startServer({ ST_REDIS_URL: redis.url, ST_HEALTH_INTERVAL_MS: 300, ST_SHUTDOWN_GRACE_MS: 500 });
  demo = await demoInit(server.dataDir);
  baseURL = `${server.publicUrl}/t/${demo.tunnelId}/v1`;
}, 60_000);

afterAll(async () => {
  await cleanupAll();
  await redis?.stop();
});

describe('st-server with Redis', () => {
  it('answers 503 tunnel_not_connected before the agent connects, and through its own broker after', async () => {
    await expectOpenAIError(await postJson(`${baseURL}/chat/completions`, demo.apiKey, { model: MODEL, messages: userMessage('hi') }), 503);
    const agent = await startAgent({ ST_BROKER_URL: `http://127.0.0.1:${server.grpcPort}`, ST_TUNNEL_TOKEN: demo.agentToken, ST_UPSTREAM_URL: mock.url });
    await waitForTunnel(baseURL, demo.apiKey);
    const answer = await openai(baseURL, demo.apiKey).chat.completions.create({ model: MODEL, messages: userMessage('local'), max_tokens: 4 });
    expect(answer.choices[0].message.content).toMatch(/^( \w+){4}$/);
    // Its own broker says the stream is gone as soon as the connection drops, well before the
    // stream's lease in Redis (10 s) would expire.
    await agent.kill();
    const ask = () => postJson(`${baseURL}/chat/completions`, demo.apiKey, { model: MODEL, messages: userMessage('gone') });
    await waitUntil('the gateway to see the stream gone', async () => (await ask()).status === 503, 5_000);
    const error = await expectOpenAIError(await ask(), 503);
    expect(error.code).toBe('tunnel_not_connected');
  });
});
