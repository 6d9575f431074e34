import { request } from 'node:http';
import { type Server as NetServer, type Socket, createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '@st/store';
import { type HttpRecorder, type Server, cleanupAll, demoInit, startAgent, startHttpRecorder, startServer, waitForTunnel } from '@st/testing';
import { expectOpenAIError, postJson } from './support';

// Issue 7, "Hygiene": what the gateway lets through between callers and model servers. The model
// server is a recorder in this process (it answers with cookies and CORS grants); a second one
// speaks raw, broken HTTP. Each sits behind a real agent.

let server: Server;
let store: SqliteStore;
let recorder: HttpRecorder;
let raw: NetServer;
const rawSockets = new Set<Socket>();
let apiKey: string;
let tunnelUrl: string;
let plainUrl: string;
let rawUrl: string;

const CHAT = { model: 'm1', messages: [{ role: 'user', content: 'hi' }] };

beforeAll(async () => {
  recorder = await startHttpRecorder((req, res) => {
    const body = req.url === '/v1/models' ? '{"object":"list","data":[{"id":"m1","object":"model"}]}' : JSON.stringify({ url: req.url, headers: req.headers });
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'set-cookie': 'session=upstream; Path=/',
      'access-control-allow-origin': '*',
      'access-control-allow-credentials': 'true',
    });
    res.end(body);
  });
  // Raw HTTP: the request's x-raw header picks a broken answer; anything else is an empty model list.
  raw = createNetServer((socket) => {
    rawSockets.add(socket);
    socket.once('close', () => rawSockets.delete(socket));
    socket.on('error', () => {});
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const which = /\r\nx-raw: (\w+)/i.exec(head)?.[1];
      head = '';
      if (which === 'informational') socket.write('HTTP/1.1 199 Odd\r\n\r\n');
      else if (which === 'upgrade') socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n');
      else if (which === 'crlf') socket.write('HTTP/1.1 200 OK\r\nx-bad: a\rb\r\ncontent-length: 2\r\n\r\nok');
      else socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 27\r\n\r\n{"object":"list","data":[]}');
    });
  });
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));

  server = await startServer();
  const demo = await demoInit(server.dataDir);
  apiKey = demo.apiKey;
  store = SqliteStore.open({ dataDir: server.dataDir });
  const plain = await store.createTunnel({ userId: demo.userId, name: 'webapp', openai: false });
  const broken = await store.createTunnel({ userId: demo.userId, name: 'broken' });
  const brokerUrl = `http://127.0.0.1:${server.grpcPort}`;
  // Three agents start at once: on a busy machine that takes longer than the harness's default.
  const slow = { timeoutMs: 40_000 };
  await Promise.all([
    startAgent({ ST_BROKER_URL: brokerUrl, ST_TUNNEL_TOKEN: demo.agentToken, ST_UPSTREAM_URL: recorder.url }, slow),
    startAgent({ ST_BROKER_URL: brokerUrl, ST_TUNNEL_TOKEN: plain.agentToken, ST_UPSTREAM_URL: recorder.url }, slow),
    startAgent({ ST_BROKER_URL: brokerUrl, ST_TUNNEL_TOKEN: broken.agentToken, ST_UPSTREAM_URL: `http://127.0.0.1:${(raw.address() as AddressInfo).port}` }, slow),
  ]);
  tunnelUrl = `${server.publicUrl}/t/${demo.tunnelId}`;
  plainUrl = `${server.publicUrl}/t/${plain.tunnel.id}`;
  rawUrl = `${server.publicUrl}/t/${broken.tunnel.id}`;
  await Promise.all([waitForTunnel(`${tunnelUrl}/v1`, apiKey), waitForTunnel(`${plainUrl}/v1`, apiKey), waitForTunnel(`${rawUrl}/v1`, apiKey)]);
});

afterAll(async () => {
  await store?.close();
  await cleanupAll();
  for (const s of rawSockets) s.destroy();
  await new Promise((resolve) => raw?.close(resolve));
});

interface RawAnswer {
  status: number;
  statusMessage: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request sent exactly as given (fetch would normalise the path and add a body length). */
function rawRequest(method: string, path: string, headers: Record<string, string> = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.httpPort, method, path, headers: { authorization: `Bearer ${apiKey}`, ...headers } });
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.end();
  });
}

/** The headers the model server saw for the request carrying `marker`. */
function seenUpstream(marker: string) {
  const seen = recorder.requests.filter((r) => r.headers['x-test-marker'] === marker);
  expect(seen).toHaveLength(1);
  return seen[0].headers;
}

describe('forwarding headers', () => {
  const lies = {
    'x-forwarded-for': '6.6.6.6',
    'x-forwarded-host': 'evil.example',
    'x-forwarded-proto': 'https',
    forwarded: 'for=6.6.6.6;host=evil.example;proto=https',
    'x-real-ip': '6.6.6.6',
  };

  it("are the gateway's own, not the caller's, on OpenAI tunnels, /v1 and plain tunnels alike", async () => {
    const targets = [`${tunnelUrl}/v1/chat/completions`, `${server.publicUrl}/v1/chat/completions`, `${plainUrl}/api/items`];
    for (const [i, url] of targets.entries()) {
      const marker = `fwd-${i}`;
      const body = url.includes('/t/') ? CHAT : { ...CHAT, model: 'demo/m1' };
      const res = await postJson(url, apiKey, body, { ...lies, 'x-test-marker': marker });
      expect(res.status, url).toBe(200);
      await res.text();
      const headers = seenUpstream(marker);
      expect(headers['x-forwarded-for'], url).toBe('127.0.0.1');
      expect(headers['x-forwarded-proto'], url).toBe('http');
      expect(headers['x-forwarded-host'], url).toBe(`127.0.0.1:${server.httpPort}`);
      expect(headers.forwarded, url).toBeUndefined();
      expect(headers['x-real-ip'], url).toBeUndefined();
    }
  });
});

describe('answers of OpenAI tunnels and /v1', () => {
  it('lose the model server\'s cookies and CORS grants and say nosniff', async () => {
    for (const res of [
      await postJson(`${tunnelUrl}/v1/chat/completions`, apiKey, CHAT),
      await postJson(`${server.publicUrl}/v1/chat/completions`, apiKey, { ...CHAT, model: 'demo/m1' }),
      await fetch(`${tunnelUrl}/v1/models`, { headers: { authorization: `Bearer ${apiKey}` } }),
    ]) {
      expect(res.status).toBe(200);
      await res.text();
      expect(res.headers.get('set-cookie')).toBeNull();
      expect([...res.headers.keys()].filter((k) => k.startsWith('access-control-'))).toEqual([]);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });

  it("of a plain tunnel keep its web app's cookies", async () => {
    const res = await fetch(`${plainUrl}/login`, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(res.status).toBe(200);
    await res.text();
    expect(res.headers.get('set-cookie')).toBe('session=upstream; Path=/');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
  });
});

describe('an empty body', () => {
  it('to a JSON route of an OpenAI tunnel or /v1 is a 400, with or without content-length: 0', async () => {
    const before = recorder.requests.length;
    for (const url of [`${tunnelUrl}/v1/chat/completions`, `${server.publicUrl}/v1/chat/completions`]) {
      const error = await expectOpenAIError(await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${apiKey}` } }), 400);
      expect(error.message).toBe('the request body is empty: send a JSON object');
      expect(error.code).toBe('invalid_request');
      // No content-length and no transfer-encoding at all.
      const bare = await rawRequest('POST', new URL(url).pathname, { 'content-type': 'application/json' });
      expect(bare.status, bare.body).toBe(400);
      expect(bare.body).toContain('the request body is empty');
    }
    expect(recorder.requests.length).toBe(before);
    // GETs are unaffected.
    expect((await rawRequest('GET', new URL(`${tunnelUrl}/v1/models`).pathname)).status).toBe(200);
  });
});

describe('encoded paths', () => {
  const tricks = ['/v1/..%5cadmin', '/v1/..;/admin', '/v1/models%00x', '/v1/%252e%252e/admin', '/v1/models%2f..%2fadmin', '/v1/..%2fadmin', '/v1/%2e%2e/admin'];

  it('are refused with 403 at the gateway, on OpenAI tunnels and /v1, before anything is forwarded', async () => {
    const before = recorder.requests.length;
    for (const trick of tricks) {
      for (const path of [`${new URL(tunnelUrl).pathname}${trick}`, trick]) {
        const answer = await rawRequest('GET', path);
        expect(answer.status, path).toBe(403);
        expect(JSON.parse(answer.body).error.code, path).toBe('path_not_forwarded');
      }
    }
    expect(recorder.requests.slice(before)).toEqual([]);
  });

  it("of a plain tunnel are its web app's, unless they climb out", async () => {
    const prefix = new URL(plainUrl).pathname;
    for (const path of ['/app;jsessionid=1/items', '/files/a%2Fb', '/search/100%25']) {
      const answer = await rawRequest('GET', `${prefix}${path}`);
      expect(answer.status, path).toBe(200);
      expect(JSON.parse(answer.body).url).toBe(path);
    }
    for (const path of ['/a/%2e%2e/%2e%2e/etc', '/x%00']) expect((await rawRequest('GET', `${prefix}${path}`)).status, path).toBe(403);
  });
});

describe('a broken answer from the model server', () => {
  it('with an informational status is a 502 tunnel_protocol_error, never written to the client', async () => {
    const answer = await rawRequest('GET', `${new URL(rawUrl).pathname}/v1/models`, { 'x-raw': 'informational' });
    expect(answer.status).toBe(502);
    expect(answer.statusMessage).toBe('Bad Gateway');
    expect(JSON.parse(answer.body).error.code).toBe('tunnel_protocol_error');
  });

  it('switching protocols (101) is a 502, and the client is not left hanging', async () => {
    const answer = await rawRequest('GET', `${new URL(rawUrl).pathname}/v1/models`, { 'x-raw': 'upgrade' });
    expect(answer.status).toBe(502);
    expect(answer.statusMessage).toBe('Bad Gateway');
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
  });

  it('with a CR in a header value is a 502 with a proper status line', async () => {
    const answer = await rawRequest('GET', `${new URL(rawUrl).pathname}/v1/models`, { 'x-raw': 'crlf' });
    expect(answer.status).toBe(502);
    expect(answer.statusMessage).toBe('Bad Gateway');
    expect(answer.headers['x-bad']).toBeUndefined();
  });
});
