import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { AgentSupervisor, EXIT_TOKEN_REFUSED } from '@st/agent';
import { silentLogger } from '@st/logging';
import { MockModelServer } from '@st/mock-model';
import { ControlPlane } from './control-plane';
import { prepareDemo, type DemoCredentials } from './demo-bootstrap';
import { loadServerConfig } from './server-config';

/**
 * Every role in this one test process, over real sockets: the in-process layout (gateway calls
 * the broker directly) and the split layout (gateway -> RelayService -> broker) must answer alike.
 */
describe('control plane in one process', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'st-cp-'));
  const logger = silentLogger();
  let mock: MockModelServer;
  let mockUrl: string;
  let plane: ControlPlane;
  let gatewayOnly: ControlPlane;
  let demo: DemoCredentials;
  let agent: AgentSupervisor;
  let agentRun: Promise<{ exitCode: number }>;

  const config = (env: Record<string, string>) =>
    loadServerConfig({ env: { ST_DATA_DIR: dataDir, ST_HTTP_PORT: '0', ST_GRPC_PORT: '0', ST_SHUTDOWN_GRACE_MS: '200', ...env }, argv: [] });

  beforeAll(async () => {
    mock = new MockModelServer({ maxTokens: 12 });
    mockUrl = (await mock.listen()).url;
    plane = await ControlPlane.start(config({}), logger);
    demo = await prepareDemo(plane.store);
    gatewayOnly = await ControlPlane.start(config({ ST_ROLE: 'gateway', ST_BROKER_ADDRESS: `127.0.0.1:${plane.grpcPort}` }), logger);
    agent = new AgentSupervisor({
      brokerUrl: `http://127.0.0.1:${plane.grpcPort}`,
      token: demo.agentToken,
      upstreamUrl: mockUrl,
      agentVersion: 'test',
      logger,
      backoff: { initialMs: 50, maxMs: 200 },
    });
    agentRun = agent.run();
    const deadline = Date.now() + 5000;
    while (!plane.broker!.isConnected(demo.tunnelId) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  });

  afterAll(async () => {
    agent.stopNow();
    await gatewayOnly?.stop();
    await plane?.stop();
    await mock?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const request = { model: 'mock-llama-3-8b', messages: [{ role: 'user' as const, content: 'hello tunnel' }] };

  it('answers through the tunnel exactly as the model server does, in both layouts', async () => {
    const direct = await new OpenAI({ baseURL: `${mockUrl}/v1`, apiKey: 'x' }).chat.completions.create(request);
    for (const p of [plane, gatewayOnly]) {
      const client = new OpenAI({ baseURL: p.tunnelBaseUrl(demo.tunnelId), apiKey: demo.apiKey, maxRetries: 0 });
      const viaTunnel = await client.chat.completions.create(request);
      expect(viaTunnel.choices[0].message.content).toBe(direct.choices[0].message.content);
      expect(viaTunnel.usage).toEqual(direct.usage);

      const stream = await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
      let text = '';
      let last: OpenAI.Chat.Completions.ChatCompletionChunk | undefined;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        last = chunk;
      }
      expect(text).toBe(direct.choices[0].message.content);
      expect(last?.choices).toEqual([]);
      expect(last?.usage?.completion_tokens).toBe(12);
    }
  });

  it('answers 404 for a foreign tunnel and 503 for a tunnel without agent, in both layouts', async () => {
    const other = await plane.store.createUser('other');
    const { apiKey: otherKey } = await plane.store.createApiKey(other.id);
    const { tunnel: idle } = await plane.store.createTunnel({ userId: other.id, name: 'idle' });
    for (const p of [plane, gatewayOnly]) {
      const foreign = await fetch(`${p.tunnelBaseUrl(demo.tunnelId)}/models`, { headers: { authorization: `Bearer ${otherKey}` } });
      expect(foreign.status).toBe(404);
      expect(((await foreign.json()) as { error: { code: string } }).error.code).toBe('tunnel_not_found');
      const noAgent = await fetch(`${p.tunnelBaseUrl(idle.id)}/models`, { headers: { authorization: `Bearer ${otherKey}` } });
      expect(noAgent.status).toBe(503);
      expect(((await noAgent.json()) as { error: { message: string } }).error.message).toMatch(/no connected agent: start st-agent/);
    }
  });

  it('says which broker a split gateway cannot reach', async () => {
    const orphan = await ControlPlane.start(config({ ST_ROLE: 'gateway', ST_BROKER_ADDRESS: '127.0.0.1:1' }), logger);
    try {
      const res = await fetch(`${orphan.tunnelBaseUrl(demo.tunnelId)}/models`, { headers: { authorization: `Bearer ${demo.apiKey}` } });
      expect(res.status).toBe(503);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('broker_unavailable');
      expect(body.error.message).toMatch(/cannot reach the broker at 127\.0\.0\.1:1: .*ECONNREFUSED.*ST_BROKER_ADDRESS/);
    } finally {
      await orphan.stop();
    }
  });

  it('stops an agent whose token was replaced, with the documented exit code', async () => {
    await plane.store.rotateAgentToken(demo.tunnelId);
    plane.broker!.disconnectTunnel(demo.tunnelId, 'token rotated');
    const exit = await agentRun;
    expect(exit.exitCode).toBe(EXIT_TOKEN_REFUSED);
  });
});
