import { type IncomingHttpHeaders, type Server as HttpServer, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupAll, demoInit, startAgent, startServer, waitForTunnel } from '@st/testing';
import { MODEL, postJson, userMessage } from './support';

// The agent's model server is a recorder in this test process: it keeps the headers of every
// request it receives and answers like a tiny OpenAI server.
const received: { path: string; headers: IncomingHttpHeaders }[] = [];
let upstream: HttpServer;
let baseURL: string;
let apiKey: string;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    received.push({ path: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => {
      const body = req.url === '/v1/models' ? '{"object":"list","data":[]}' : '{"ok":true}';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

  const server = await startServer();
  const demo = await demoInit(server.dataDir);
  await startAgent({ ST_BROKER_URL: `http://127.0.0.1:${server.grpcPort}`, ST_TUNNEL_TOKEN: demo.agentToken, ST_UPSTREAM_URL: upstreamUrl });
  baseURL = `${server.publicUrl}/t/${demo.tunnelId}/v1`;
  apiKey = demo.apiKey;
  await waitForTunnel(baseURL, apiKey);
});

afterAll(async () => {
  await cleanupAll();
  await new Promise((resolve) => upstream?.close(resolve));
});

/** Sends a chat request and returns the response and the headers the model server saw. */
async function roundTrip(headers: Record<string, string>) {
  const marker = `marker-${Math.random().toString(36).slice(2)}`;
  const res = await postJson(`${baseURL}/chat/completions`, apiKey, { model: MODEL, messages: userMessage('hi') }, { ...headers, 'x-test-marker': marker });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ ok: true });
  const seen = received.filter((r) => r.headers['x-test-marker'] === marker);
  expect(seen).toHaveLength(1);
  return { res, upstreamHeaders: seen[0].headers };
}

describe('request headers', () => {
  it("never pass the caller's API key to the model server", async () => {
    const { upstreamHeaders } = await roundTrip({ 'x-custom-header': 'kept' });
    // Ordinary headers do cross, so the missing ones were removed on purpose.
    expect(upstreamHeaders['x-custom-header']).toBe('kept');
    expect(upstreamHeaders.authorization).toBeUndefined();
    expect(JSON.stringify(upstreamHeaders)).not.toContain(apiKey);
    expect(JSON.stringify(received)).not.toContain(apiKey);
  });

  it("carry the caller's x-request-id to the model server and back", async () => {
    const { res, upstreamHeaders } = await roundTrip({ 'x-request-id': 'e2e-request-42' });
    expect(upstreamHeaders['x-request-id']).toBe('e2e-request-42');
    expect(res.headers.get('x-request-id')).toBe('e2e-request-42');
  });

  it('get an x-request-id when the caller sent none, the same one upstream and back', async () => {
    const { res, upstreamHeaders } = await roundTrip({});
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[\w.:@/+=-]{8,}$/);
    expect(upstreamHeaders['x-request-id']).toBe(id);
  });

  it('give error answers an x-request-id too', async () => {
    const res = await postJson(`${baseURL}/chat/completions`, undefined, {}, { 'x-request-id': 'e2e-unauthenticated' });
    expect(res.status).toBe(401);
    expect(res.headers.get('x-request-id')).toBe('e2e-unauthenticated');
  });
});
