import { request } from 'node:http';
import { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '@st/store';
import { type Server, type Stack, cleanupAll, closedPort, startAgent, startServer, startStack, waitForTunnel, waitUntil } from '@st/testing';
import { MODEL, expectOpenAIError, openai, postJson, userMessage } from './support';

// One stack; other users and tunnels are made in its store directly (SQLite in WAL mode is safe
// to share with the running server). A second st-server on the same data directory has a small
// body limit and first-byte deadline.
let stack: Stack;
let store: SqliteStore;
let strict: Server;
let strictBaseUrl: string;
let otherTunnelId: string;
let idleTunnelId: string;
let brokenTunnelId: string;
let deadPort: number;

const CHAT = { model: MODEL, messages: userMessage('hello'), max_tokens: 5 };

beforeAll(async () => {
  stack = await startStack();
  store = SqliteStore.open({ dataDir: stack.dataDir });

  // Another user's tunnel, with a live agent: a leak would answer 200, not 404.
  const other = await store.createUser('other');
  const theirs = await store.createTunnel({ userId: other.id, name: 'theirs' });
  otherTunnelId = theirs.tunnel.id;
  // The demo user's tunnel without an agent, and one whose agent's model server is down.
  idleTunnelId = (await store.createTunnel({ userId: stack.userId, name: 'idle' })).tunnel.id;
  const broken = await store.createTunnel({ userId: stack.userId, name: 'broken' });
  brokenTunnelId = broken.tunnel.id;
  deadPort = await closedPort();

  strict = await startServer({ ST_DATA_DIR: stack.dataDir, ST_MAX_BODY: 1024, ST_FIRST_BYTE_TIMEOUT_MS: 300 });
  strictBaseUrl = `${strict.publicUrl}/t/${stack.tunnelId}/v1`;
  await Promise.all([
    startAgent({ ST_BROKER_URL: stack.brokerUrl, ST_TUNNEL_TOKEN: theirs.agentToken, ST_UPSTREAM_URL: stack.mockUrl }),
    startAgent({ ST_BROKER_URL: stack.brokerUrl, ST_TUNNEL_TOKEN: broken.agentToken, ST_UPSTREAM_URL: `http://127.0.0.1:${deadPort}` }),
    // The demo tunnel also gets an agent on the strict server (one tunnel may have several).
    startAgent({ ST_BROKER_URL: `http://127.0.0.1:${strict.grpcPort}`, ST_TUNNEL_TOKEN: stack.agentToken, ST_UPSTREAM_URL: stack.mockUrl }),
  ]);
  await waitForTunnel(strictBaseUrl, stack.apiKey);
});

afterAll(async () => {
  await store?.close();
  await cleanupAll();
});

/** GET with the path sent exactly as given (fetch would normalise `..` away). */
function rawGet(path: string, apiKey: string): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: stack.server.httpPort, path, headers: { authorization: `Bearer ${apiKey}` } });
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v);
        resolve(new Response(Buffer.concat(chunks), { status: res.statusCode, headers }));
      });
    });
    req.end();
  });
}

describe('callers', () => {
  it('without an API key get 401', async () => {
    const res = await postJson(`${stack.baseURL}/chat/completions`, undefined, CHAT);
    const error = await expectOpenAIError(res, 401);
    expect(error.message).toMatch(/API key/);
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });

  it('with a wrong API key get 401', async () => {
    for (const key of ['st_key_wrongwrongwrongwrongwrongwrongwrongwrongwrong', 'not-a-key-at-all']) {
      const error = await expectOpenAIError(await postJson(`${stack.baseURL}/chat/completions`, key, CHAT), 401);
      expect(error.message).toMatch(/not valid/);
    }
  });

  it('get 404 for an unknown tunnel, and exactly the same for another user\'s tunnel', async () => {
    const unknownId = otherTunnelId.replace(/.$/, (c) => (c === 'a' ? 'b' : 'a'));
    const unknown = await expectOpenAIError(await postJson(`${stack.publicUrl}/t/${unknownId}/v1/chat/completions`, stack.apiKey, CHAT), 404);
    const theirs = await expectOpenAIError(await postJson(`${stack.publicUrl}/t/${otherTunnelId}/v1/chat/completions`, stack.apiKey, CHAT), 404);
    expect(theirs.message).toContain(otherTunnelId);
    expect({ ...theirs, message: theirs.message.replace(otherTunnelId, '<id>') }).toEqual({ ...unknown, message: unknown.message.replace(unknownId, '<id>') });
  });

  it('get 404 for odd tunnel ids', async () => {
    const odd = ['..', '%2e%2e', '.', '%2F', '..%2F..', 'a'.repeat(4000), '%E2%9C%93-%F0%9F%98%80', '%D1%82%D1%83%D0%BD%D0%BD%D0%B5%D0%BB%D1%8C', '%00', '%zz', `${stack.tunnelId}%00`];
    for (const id of odd) {
      const res = await rawGet(`/t/${id}/v1/models`, stack.apiKey);
      const error = await expectOpenAIError(res, 404);
      expect(error.message.length, id.slice(0, 20)).toBeLessThan(300);
    }
  });

  it('get 400 for malformed JSON', async () => {
    const error = await expectOpenAIError(await postJson(`${stack.baseURL}/chat/completions`, stack.apiKey, '{"model": "mock-llama-3-8b", "messages": ['), 400);
    expect(error.message).toMatch(/JSON/);
    expect(error.type).toBe('invalid_request_error');
  });

  it('get 413 for a body over ST_MAX_BODY', async () => {
    const big = { ...CHAT, messages: userMessage('x'.repeat(2000)) };
    const error = await expectOpenAIError(await postJson(`${strictBaseUrl}/chat/completions`, stack.apiKey, big), 413);
    expect(error.message).toMatch(/1024 bytes/);
    // The same request under the limit goes through.
    expect((await postJson(`${strictBaseUrl}/chat/completions`, stack.apiKey, CHAT)).status).toBe(200);
  });
});

describe('the tunnel', () => {
  it('without a live agent answers 503 saying to start the agent', async () => {
    const error = await expectOpenAIError(await postJson(`${stack.publicUrl}/t/${idleTunnelId}/v1/chat/completions`, stack.apiKey, CHAT), 503);
    expect(error.message).toMatch(/start st-agent/);
  });

  it('whose model server is unreachable answers 502 naming the address', async () => {
    const brokenUrl = `${stack.publicUrl}/t/${brokenTunnelId}/v1`;
    const error = await expectOpenAIError(await postJson(`${brokenUrl}/chat/completions`, stack.apiKey, CHAT), 502);
    expect(error.message).toContain(`127.0.0.1:${deadPort}`);
    expect(error.message).toMatch(/unreachable/);
  });

  it('passes the model server\'s own errors through', async () => {
    for (const fault of ['500', '429']) {
      const headers = { 'x-mock-error': fault };
      const viaTunnel = await postJson(`${stack.baseURL}/chat/completions`, stack.apiKey, CHAT, headers);
      const direct = await postJson(`${stack.mockUrl}/v1/chat/completions`, undefined, CHAT, headers);
      const expected = await direct.text();
      expect(viaTunnel.status).toBe(Number(fault));
      expect(await viaTunnel.clone().text()).toBe(expected);
      await expectOpenAIError(viaTunnel, Number(fault));
    }
    // The official client sees the model server's status.
    const client = openai(stack.baseURL, stack.apiKey);
    const err = await client.chat.completions.create(CHAT, { headers: { 'x-mock-error': '429' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).status).toBe(429);
  });

  it('answers 504 when the model server sends nothing before the first-byte deadline, and stops it', async () => {
    const before = await stack.mock.stats();
    const started = performance.now();
    // A plain answer of 5 tokens 2 s apart comes after 10 s; the strict gateway waits 300 ms.
    const res = await postJson(`${strictBaseUrl}/chat/completions`, stack.apiKey, CHAT, { 'x-mock-token-delay-ms': '2000' });
    const error = await expectOpenAIError(res, 504);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(error.message).toMatch(/ST_FIRST_BYTE_TIMEOUT_MS/);
    await waitUntil('the mock to count the abort', async () => (await stack.mock.stats()).aborted === before.aborted + 1, 1_000);
  });
});
