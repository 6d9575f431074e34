import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockModel, cleanupAll, demoInit, startAgent, startMockModel, startServer, waitForTunnel, waitUntil } from '@st/testing';
import { MODEL, expectOpenAIError, openai, postJson, readChatStream, userMessage } from './support';

// Broker and gateway in two processes sharing a data directory: every request crosses the
// RelayService hop (gateway -> broker over gRPC) before the agent's stream.
let mock: MockModel;
let tunnel: OpenAI;
let direct: OpenAI;
let publicUrl: string;
let baseURL: string;
let apiKey: string;

beforeAll(async () => {
  mock = await startMockModel({ ST_MOCK_TOKEN_DELAY_MS: 0 });
  const broker = await startServer({ ST_ROLE: 'broker' });
  expect(broker.publicUrl).toBeUndefined();
  const gateway = await startServer({ ST_ROLE: 'gateway', ST_DATA_DIR: broker.dataDir, ST_BROKER_ADDRESS: `127.0.0.1:${broker.grpcPort}` });
  expect(gateway.grpcPort).toBeUndefined();
  const demo = await demoInit(broker.dataDir);
  await startAgent({ ST_BROKER_URL: `http://127.0.0.1:${broker.grpcPort}`, ST_TUNNEL_TOKEN: demo.agentToken, ST_UPSTREAM_URL: mock.url });
  publicUrl = gateway.publicUrl!;
  apiKey = demo.apiKey;
  baseURL = `${publicUrl}/t/${demo.tunnelId}/v1`;
  await waitForTunnel(baseURL, apiKey);
  tunnel = openai(baseURL, apiKey);
  direct = openai(`${mock.url}/v1`, 'not-needed');
});

afterAll(cleanupAll);

describe('gateway and broker in separate processes', () => {
  it('stream a chat answer identical to the model server\'s', async () => {
    const params = { model: MODEL, messages: userMessage('through the relay'), max_tokens: 30, stream: true as const, stream_options: { include_usage: true } };
    const viaTunnel = await readChatStream(await tunnel.chat.completions.create(params));
    const viaModel = await readChatStream(await direct.chat.completions.create(params));
    expect(viaTunnel.content).toBe(viaModel.content);
    expect(viaTunnel.content).toMatch(/^( \w+){30}$/);
    expect(viaTunnel.chunks.at(-1)!.usage).toEqual(viaModel.chunks.at(-1)!.usage);
  });

  it('pass an abort on to the model server', async () => {
    const before = await mock.stats();
    const controller = new AbortController();
    const stream = await tunnel.chat.completions.create(
      { model: MODEL, messages: userMessage('abandon me'), max_tokens: 400, stream: true },
      { headers: { 'x-mock-token-delay-ms': '20' }, signal: controller.signal },
    );
    let received = 0;
    try {
      for await (const chunk of stream) if (chunk.choices[0]?.delta?.content && ++received === 3) controller.abort();
    } catch {
      // openai v6 ends quietly on abort; older versions threw. Either way the mock must hear of it.
    }
    await waitUntil('the mock to count the abort', async () => (await mock.stats()).aborted === before.aborted + 1, 1_000);
    expect((await mock.stats()).active).toBe(0);
  });

  it('carry request bodies of every size the gateway accepts', async () => {
    // ~4 MB of distinct words: the mock's answer depends on every byte, in order.
    const words = Array.from({ length: 500_000 }, (_, i) => `w${i}`).join(' ');
    const params = { model: MODEL, messages: userMessage(words), max_tokens: 6 };
    const [viaTunnel, viaModel] = await Promise.all([tunnel.chat.completions.create(params), direct.chat.completions.create(params)]);
    expect(viaTunnel.choices[0].message.content).toBe(viaModel.choices[0].message.content);
    expect(viaTunnel.usage).toEqual(viaModel.usage);
    // 17 MiB: over gRPC's 16 MiB message limit, under ST_MAX_BODY (20 MiB). The model server's
    // own answer comes back (the mock takes at most 10 MiB), not a tunnel error.
    const huge = JSON.stringify({ ...params, messages: userMessage('x'.repeat(17 * 1024 * 1024)) });
    const [res, expected] = await Promise.all([postJson(`${baseURL}/chat/completions`, apiKey, huge), postJson(`${mock.url}/v1/chat/completions`, undefined, huge)]);
    expect(res.status).toBe(expected.status);
    expect(await res.text()).toBe(await expected.text());
  });

  it('keep the error answers of the single-process layout', async () => {
    await expectOpenAIError(await postJson(`${publicUrl}/t/t-doesnotexist/v1/chat/completions`, apiKey, { model: MODEL }), 404);
    const broken = tunnel.chat.completions.create(
      { model: MODEL, messages: userMessage('crash'), max_tokens: 50, stream: true },
      { headers: { 'x-mock-error': 'midstream' } },
    );
    await expect(broken.then(readChatStream)).rejects.toThrow(/broke off/);
  });
});
