import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_CONNECTED, type DemoCredentials, type ManagedProcess, type MockModel, REPO_ROOT, type Server, cleanupAll, demoInit, spawnProcess, startMockModel, startServer, waitForTunnel } from '@st/testing';

/**
 * Agents in session images lag behind the control plane: an st-agent of the previous protocol
 * revision (1: fixed per-exchange credit, no window growth) must keep serving through the
 * current broker (protocol 2), in both directions and past its fixed window. The fixture is
 * that agent's committed bundle, built from the last commit before protocol 2.
 */
const PREVIOUS_AGENT = join(REPO_ROOT, 'e2e', 'fixtures', 'st-agent-protocol-1.js');
const MODEL = 'mock-llama-3-8b';

let mock: MockModel;
let server: Server;
let demo: DemoCredentials;
let agent: ManagedProcess;
let baseURL: string;

beforeAll(async () => {
  [mock, server] = await Promise.all([startMockModel({ ST_MOCK_TOKEN_DELAY_MS: 0 }), startServer()]);
  demo = await demoInit(server.dataDir);
  agent = spawnProcess({
    name: 'st-agent (protocol 1)',
    script: PREVIOUS_AGENT,
    env: { ST_BROKER_URL: `http://127.0.0.1:${server.grpcPort}`, ST_TUNNEL_TOKEN: demo.agentToken, ST_UPSTREAM_URL: mock.url },
  });
  await agent.waitForLine(AGENT_CONNECTED);
  baseURL = `${server.publicUrl}/t/${demo.tunnelId}/v1`;
  await waitForTunnel(baseURL, demo.apiKey);
});

afterAll(cleanupAll);

function chat(url: string, key: string | undefined, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ model: MODEL, ...body }),
  });
}

/** Both answers, through the tunnel and straight from the mock, as text. */
async function throughTunnelAndDirect(body: Record<string, unknown>): Promise<{ tunnel: string; direct: string; status: number }> {
  const [viaTunnel, direct] = await Promise.all([chat(baseURL, demo.apiKey, body), chat(`${mock.url}/v1`, undefined, body)]);
  return { status: viaTunnel.status, tunnel: await viaTunnel.text(), direct: await direct.text() };
}

/** The content of an SSE chat answer, and whether it ended with [DONE]. */
function sseContent(text: string): { content: string; done: boolean } {
  let content = '';
  let done = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith('data: ')) continue;
    const data = line.slice(6);
    if (data === '[DONE]') done = true;
    else content += (JSON.parse(data) as { choices: { delta?: { content?: string } }[] }).choices[0]?.delta?.content ?? '';
  }
  return { content, done };
}

describe('an st-agent of protocol revision 1 through the current broker', () => {
  it('registers with protocol 1, and the broker admits it', async () => {
    // The broker logs each agent's Register; the fixture must really be the older revision.
    await server.process.waitForLine(/"msg":"agent registered".*"protocolVersion":1\b|"protocolVersion":1\b.*"msg":"agent registered"/);
  });

  it('answers a small chat completion exactly as the model server does', async () => {
    const r = await throughTunnelAndDirect({ messages: [{ role: 'user', content: 'hello from an older agent' }], max_tokens: 16 });
    expect(r.status).toBe(200);
    const content = (t: string) => (JSON.parse(t) as { choices: { message: { content: string } }[] }).choices[0].message.content;
    expect(content(r.tunnel)).toBe(content(r.direct));
  });

  it('streams an answer many times its fixed 256 KiB window, whole and in order', async () => {
    const r = await throughTunnelAndDirect({ messages: [{ role: 'user', content: 'a long answer' }], max_tokens: 20_000, stream: true });
    expect(r.status).toBe(200);
    expect(r.tunnel.length).toBeGreaterThan(4 * 256 * 1024);
    const [tunnel, direct] = [sseContent(r.tunnel), sseContent(r.direct)];
    expect(tunnel.done).toBe(true);
    expect(tunnel.content).toBe(direct.content);
  });

  it('receives an upload many times its window: the answer, seeded by the whole prompt, matches', async () => {
    // The mock seeds its answer with a hash of every prompt byte: a lost or reordered chunk of
    // the 3 MB body would change the answer.
    const prompt = Array.from({ length: 3 * 1024 * 1024 / 32 }, (_, i) => `chunk ${String(i).padStart(8, '0')} of the prompt\n`).join('');
    const r = await throughTunnelAndDirect({ messages: [{ role: 'user', content: prompt }], max_tokens: 32 });
    expect(r.status).toBe(200);
    const parsed = (t: string) => JSON.parse(t) as { choices: { message: { content: string } }[]; usage: { prompt_tokens: number } };
    expect(parsed(r.tunnel).choices[0].message.content).toBe(parsed(r.direct).choices[0].message.content);
    expect(parsed(r.tunnel).usage.prompt_tokens).toBe(parsed(r.direct).usage.prompt_tokens);
  });
});
