import { Agent, type IncomingMessage, request } from 'node:http';
import { type Socket, connect } from 'node:net';
import { status as grpcStatus } from '@grpc/grpc-js';
import { Code, ConnectError } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '@st/store';
import {
  ControlPlaneApi,
  type ManagedProcess,
  type Server,
  type Stack,
  cleanupAll,
  connectDiscoveryClient,
  startAgent,
  startServer,
  startStack,
  waitForTunnel,
  waitUntil,
  watchProvidersConnect,
  watchProvidersGrpc,
} from '@st/testing';
import { MODEL, expectOpenAIError, openai, postJson, readChatStream, userMessage } from './support';

// Limits between tenants, against the real processes. The stack's st-server has short body
// deadlines and small request limits so that each attack shows in seconds; a second st-server
// on the same data directory has a small connection cap. Bounds are several times what each
// limit claims, for a busy machine.
const BODY_IDLE_MS = 1500;
const BODY_WINDOW_MS = 2000;
const HEADER_TIMEOUT_MS = 1000;

let stack: Stack;
let store: SqliteStore;
let api: ControlPlaneApi;
/** A second user with a tunnel and no agent: their requests are admitted (then 503) or refused (429). */
let flood: { apiKey: string; tunnelId: string };
let capped: Server;

const CHAT = { model: MODEL, messages: userMessage('hello'), max_tokens: 3 };

beforeAll(async () => {
  stack = await startStack({
    serverEnv: {
      ST_BODY_IDLE_TIMEOUT_MS: BODY_IDLE_MS,
      ST_BODY_MIN_RATE: 200,
      ST_BODY_RATE_WINDOW_MS: BODY_WINDOW_MS,
      ST_HEADER_TIMEOUT_MS: HEADER_TIMEOUT_MS,
      ST_LIMIT_TUNNEL_CONCURRENCY: 3,
      ST_LIMIT_USER_RPS: 5,
      ST_LIMIT_USER_BURST: 10,
      ST_MAX_WATCHES_PER_USER: 3,
      ST_MAX_STREAMS_PER_TUNNEL: 4,
    },
  });
  store = SqliteStore.open({ dataDir: stack.dataDir });
  api = new ControlPlaneApi(stack.grpcPort);
  const user = await store.createUser('flood');
  const { apiKey } = await store.createApiKey(user.id);
  const { tunnel } = await store.createTunnel({ userId: user.id, name: 'flood', openai: true });
  flood = { apiKey, tunnelId: tunnel.id };
  // Held connections must stay while the test looks: long header and keep-alive timeouts.
  capped = await startServer({ ST_DATA_DIR: stack.dataDir, ST_MAX_CONNECTIONS: 6, ST_HEADER_TIMEOUT_MS: 60_000, ST_KEEPALIVE_TIMEOUT_MS: 60_000 });
  await startAgent({ ST_BROKER_URL: `http://127.0.0.1:${capped.grpcPort}`, ST_TUNNEL_TOKEN: stack.agentToken, ST_UPSTREAM_URL: stack.mockUrl });
  await waitForTunnel(`${capped.publicUrl}/t/${stack.tunnelId}/v1`, stack.apiKey);
});

afterAll(async () => {
  api?.close();
  await store?.close();
  await cleanupAll();
});

interface TrickleResult {
  status: number;
  body: string;
  connectionHeader: string | undefined;
  /** ms from the first body byte to the server closing the connection. */
  closedAfterMs: number;
}

/**
 * POSTs a chunked body that starts with `first` and then sends `chunk` every `intervalMs`, until
 * the server answers and closes the connection.
 */
function trickle(path: string, contentType: string, first: string, chunk: string, intervalMs: number): Promise<TrickleResult> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port: stack.server.httpPort,
      method: 'POST',
      path,
      agent: false,
      headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': contentType, 'transfer-encoding': 'chunked' },
    });
    const started = performance.now();
    let response: { status: number; body: string; connectionHeader: string | undefined } | undefined;
    let closedAfterMs: number | undefined;
    const settle = () => {
      if (!response || closedAfterMs === undefined) return;
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve({ ...response, closedAfterMs });
    };
    const timer = setInterval(() => {
      if (!req.destroyed && req.socket?.writable) req.write(chunk);
    }, intervalMs);
    const giveUp = setTimeout(() => {
      clearInterval(timer);
      req.destroy();
      reject(new Error(`the gateway kept the trickling body open for 30 s (answer: ${JSON.stringify(response)})`));
    }, 30_000);
    req.on('error', () => undefined); // EPIPE/ECONNRESET once the server has closed
    req.on('socket', (socket: Socket) =>
      socket.once('close', () => {
        closedAfterMs = performance.now() - started;
        settle();
      }),
    );
    req.on('response', (res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('error', () => undefined);
      res.on('end', () => {
        response = { status: res.statusCode ?? 0, body, connectionHeader: res.headers.connection };
        settle();
      });
    });
    req.flushHeaders();
    req.write(first);
  });
}

/** The status of a JSON POST, its body read (an unread body would hold the connection). */
async function statusOf(url: string, apiKey: string, body: unknown): Promise<number> {
  const res = await postJson(url, apiKey, body);
  await res.text();
  return res.status;
}

function openAIError(body: string): { type: string; code: string; message: string } {
  return (JSON.parse(body) as { error: { type: string; code: string; message: string } }).error;
}

describe('request bodies', () => {
  it('a JSON body trickling under ST_BODY_MIN_RATE gets 408 and its connection is closed', async () => {
    // A byte every 250 ms is never idle for 1.5 s, but 4 bytes/s is far under 200 bytes/s.
    const r = await trickle(`/t/${stack.tunnelId}/v1/chat/completions`, 'application/json', '{"model":', ' ', 250);
    expect(r.status).toBe(408);
    expect(openAIError(r.body)).toMatchObject({ type: 'invalid_request_error', code: 'request_timeout' });
    expect(openAIError(r.body).message).toMatch(/under the minimum of 200 bytes\/s \(ST_BODY_MIN_RATE\)/);
    expect(r.connectionHeader).toBe('close');
    expect(r.closedAfterMs).toBeLessThan(BODY_WINDOW_MS * 8);
  });

  it('a streamed body trickling under ST_BODY_MIN_RATE gets 408, its exchange is cancelled and the connection closed', async () => {
    const before = await stack.mock.stats();
    // Not JSON: the gateway streams it through the tunnel; the mock model is reading it.
    const r = await trickle(`/t/${stack.tunnelId}/v1/chat/completions`, 'application/octet-stream', 'x', 'y', 250);
    expect(r.status).toBe(408);
    expect(openAIError(r.body).message).toMatch(/ST_BODY_MIN_RATE/);
    expect(r.closedAfterMs).toBeLessThan(BODY_WINDOW_MS * 8);
    // The request reached the model server through the exchange (which the 408 then cancelled).
    expect((await stack.mock.stats()).requests).toBeGreaterThan(before.requests);
  });

  it('a streamed body that stops for ST_BODY_IDLE_TIMEOUT_MS gets 408 naming it', async () => {
    // One byte, then one every 5 s: each pause is longer than the idle timeout.
    const r = await trickle(`/t/${stack.tunnelId}/v1/chat/completions`, 'application/octet-stream', 'x', 'y', 5_000);
    expect(r.status).toBe(408);
    expect(openAIError(r.body).message).toMatch(/no request body byte arrived for 1500 ms \(ST_BODY_IDLE_TIMEOUT_MS\)/);
    expect(r.closedAfterMs).toBeLessThan(BODY_IDLE_MS * 8);
  });
});

describe('connections', () => {
  it('closes slow-header connections after ST_HEADER_TIMEOUT_MS, and silent ones too', async () => {
    const sockets: { socket: Socket; closed: Promise<number>; received: () => string }[] = [];
    const started = performance.now();
    const timers: NodeJS.Timeout[] = [];
    for (let i = 0; i < 50; i++) {
      const socket = connect(stack.server.httpPort!, '127.0.0.1');
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
      socket.on('error', () => undefined);
      const closed = new Promise<number>((r) => socket.once('close', () => r(performance.now() - started)));
      if (i % 2 === 0) {
        // A header line every 200 ms, never the blank line that ends them.
        socket.write(`GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n`);
        timers.push(setInterval(() => socket.writable && socket.write(`x-slow-${i}: y\r\n`), 200));
      }
      sockets.push({ socket, closed, received: () => text });
    }
    const closedAfter = await Promise.all(sockets.map((s) => s.closed));
    for (const t of timers) clearInterval(t);
    // 1 s of header timeout, Node's check every 250 ms, 2 s for the peer to read the 408.
    expect(Math.max(...closedAfter)).toBeLessThan(20_000);
    for (const s of sockets.filter((_, i) => i % 2 === 0)) {
      expect(s.received()).toMatch(/^HTTP\/1.1 408/);
      expect(s.received()).toMatch(/within 1000 ms \(ST_HEADER_TIMEOUT_MS\).*"code":"request_timeout"/);
    }
    // The server still answers.
    expect((await fetch(`${stack.publicUrl}/healthz`)).status).toBe(200);
  });

  it('refuses connections over ST_MAX_CONNECTIONS while a caller on an open connection is served', async () => {
    const port = capped.httpPort!;
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    const held: Socket[] = [];
    try {
      // The other tenant's connection, open before the flood.
      expect((await httpGet(port, `/t/${stack.tunnelId}/v1/models`, keepAlive)).status).toBe(200);
      const refused: Promise<boolean>[] = [];
      for (let i = 0; i < 12; i++) {
        const socket = connect(port, '127.0.0.1');
        socket.on('error', () => undefined);
        held.push(socket);
        // Refused: closed by the server with nothing said, at once.
        refused.push(
          new Promise((r) => {
            const timer = setTimeout(() => r(false), 3_000);
            socket.once('close', () => {
              clearTimeout(timer);
              r(true);
            });
          }),
        );
      }
      const closed = (await Promise.all(refused)).filter(Boolean).length;
      // 6 at most: the caller's one and at most 5 of the flood stay open (fewer if the harness
      // still holds a keep-alive connection), so at least 7 of the 12 are closed.
      expect(closed).toBeGreaterThanOrEqual(7);
      expect(closed).toBeLessThan(12);
      // The caller's streamed answer on its open connection completes.
      const answer = await httpPostStream(port, `/t/${stack.tunnelId}/v1/chat/completions`, keepAlive, {
        ...CHAT,
        stream: true,
        max_tokens: 10,
      });
      expect(answer.status).toBe(200);
      expect(answer.body.trimEnd().endsWith('data: [DONE]')).toBe(true);
      await capped.process.waitForLine(/refused \d+ new HTTP connection\(s\): 6 are open \(ST_MAX_CONNECTIONS\)/);
    } finally {
      for (const s of held) s.destroy();
      keepAlive.destroy();
    }
    // Once the flood is gone, new connections are served again.
    await waitUntil('a new connection to be served', async () => (await fetch(`${capped.publicUrl}/healthz`).catch(() => undefined))?.status === 200, 10_000);
  });
});

describe('per-user and per-tunnel limits', () => {
  it('a user over ST_LIMIT_USER_RPS gets 429 with Retry-After, while another user is served and their stream completes', async () => {
    const client = openai(stack.baseURL, stack.apiKey);
    const streaming = client.chat.completions
      .create({ model: MODEL, messages: userMessage('during the flood'), stream: true, max_tokens: 20 }, { headers: { 'x-mock-token-delay-ms': '50' } })
      .then(readChatStream);
    const floodBase = `${stack.publicUrl}/t/${flood.tunnelId}/v1`;
    // Per tunnel and through the unified endpoint: the same bucket of the same user.
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        i % 3 === 0 ? postJson(`${stack.publicUrl}/v1/chat/completions`, flood.apiKey, { ...CHAT, model: `flood/${MODEL}` }) : postJson(`${floodBase}/chat/completions`, flood.apiKey, CHAT),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    const statuses = answers.map((r) => r.status);
    expect(statuses.every((s) => s === 503 || s === 429), statuses.join(' ')).toBe(true);
    // The burst of ten reaches the broker (no agent: 503), then five per second; the rest are refused.
    const admitted = statuses.filter((s) => s === 503).length;
    expect(admitted).toBeGreaterThanOrEqual(10);
    expect(admitted).toBeLessThanOrEqual(10 + Math.ceil(5 * seconds) + 1);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    const limited = answers.find((r) => r.status === 429)!;
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const error = await expectOpenAIError(limited, 429);
    expect(error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded' });
    expect(error.message).toMatch(/more than 5 requests per second \(bursts of up to 10; ST_LIMIT_USER_RPS, ST_LIMIT_USER_BURST\): retry after \d+ s/);
    for (const r of answers) if (r !== limited) await r.text();

    // Meanwhile the other user is served normally.
    for (let i = 0; i < 3; i++) expect(await statusOf(`${stack.baseURL}/chat/completions`, stack.apiKey, CHAT)).toBe(200);
    const { content, chunks } = await streaming;
    expect(chunks.length).toBeGreaterThanOrEqual(20);
    expect(content.length).toBeGreaterThan(0);

    // The bucket refills: after Retry-After the flooding user is admitted again.
    await waitUntil('the flooding user to be admitted again', async () => (await statusOf(`${floodBase}/chat/completions`, flood.apiKey, CHAT)) === 503, 10_000, 300);
  });

  it('the request over ST_LIMIT_TUNNEL_CONCURRENCY gets 429, and its slot comes back when one finishes', async () => {
    // Three slow streams hold the tunnel's three slots (the 408s above released theirs, or the
    // first of these would already be refused).
    const client = openai(stack.baseURL, stack.apiKey);
    const slow = await Promise.all(
      Array.from({ length: 3 }, () =>
        client.chat.completions.create({ model: MODEL, messages: userMessage('slow'), stream: true, max_tokens: 20 }, { headers: { 'x-mock-token-delay-ms': '200' } }),
      ),
    );
    const over = await postJson(`${stack.baseURL}/chat/completions`, stack.apiKey, CHAT);
    expect(over.headers.get('retry-after')).toBe('1');
    const error = await expectOpenAIError(over, 429);
    expect(error.code).toBe('rate_limit_exceeded');
    expect(error.message).toBe(`tunnel ${stack.tunnelId} has 3 requests open (ST_LIMIT_TUNNEL_CONCURRENCY): retry when some finish`);
    // A client that gives up frees its slot too.
    slow[0].controller.abort();
    await waitUntil('a slot to come back', async () => (await statusOf(`${stack.baseURL}/chat/completions`, stack.apiKey, CHAT)) === 200, 10_000, 300);
    for (const s of slow.slice(1)) expect((await readChatStream(s)).chunks.length).toBeGreaterThanOrEqual(20);
  });
});

describe('streams and watches', () => {
  it('refuses a fifth agent stream for one tunnel with RESOURCE_EXHAUSTED; that agent keeps retrying and gets in once one leaves', async () => {
    const env = { ST_BROKER_URL: stack.brokerUrl, ST_TUNNEL_TOKEN: stack.agentToken, ST_UPSTREAM_URL: stack.mockUrl };
    // The stack's agent and three more: four streams, the limit.
    const extra = await Promise.all([startAgent(env), startAgent(env), startAgent(env)]);
    const fifth: ManagedProcess = await startAgent({ ...env, ST_RECONNECT_MAX_MS: 1000 }, { waitForConnected: false });
    const refusal = /"code":"RESOURCE_EXHAUSTED".*already has 4 agent streams open \(ST_MAX_STREAMS_PER_TUNNEL\)/;
    await fifth.waitForLine(refusal);
    // It retries (more than one refusal) rather than exiting.
    await waitUntil('a second refusal', () => fifth.lines.filter((l) => refusal.test(l.text)).length >= 2, 15_000);
    expect(fifth.exit).toBeUndefined();
    await stack.server.process.waitForLine(/agent refused: too many streams for its tunnel \(ST_MAX_STREAMS_PER_TUNNEL\)/);
    await extra[0].stop();
    await fifth.waitForLine(/"msg":"connected to broker"/, { timeoutMs: 20_000 });
    await Promise.all([...extra.slice(1), fifth].map((a) => a.stop()));
  });

  it('refuses a WatchProviders stream over ST_MAX_WATCHES_PER_USER, over gRPC and Connect, and not another user', async () => {
    const watches = Array.from({ length: 3 }, () => watchProvidersGrpc(api.discovery, stack.apiKey));
    try {
      for (const w of watches) await w.waitFor('SYNCED', (e) => e.change === 'SYNCED');
      const grpcOver = watchProvidersGrpc(api.discovery, stack.apiKey);
      await waitUntil('the fourth watch to end', () => grpcOver.end !== undefined, 10_000);
      const err = grpcOver.end as Error & { code?: number; details?: string };
      expect(err.code).toBe(grpcStatus.RESOURCE_EXHAUSTED);
      expect(err.details).toMatch(/you have 3 WatchProviders streams open \(ST_MAX_WATCHES_PER_USER\)/);

      const connectOver = watchProvidersConnect(connectDiscoveryClient(stack.publicUrl), stack.apiKey);
      await waitUntil('the Connect watch to end', () => connectOver.end !== undefined, 10_000);
      expect(connectOver.end).toBeInstanceOf(ConnectError);
      expect((connectOver.end as ConnectError).code).toBe(Code.ResourceExhausted);
      expect((connectOver.end as ConnectError).rawMessage).toMatch(/ST_MAX_WATCHES_PER_USER/);

      // Another user watches as usual.
      const other = watchProvidersGrpc(api.discovery, flood.apiKey);
      await other.waitFor('SYNCED', (e) => e.change === 'SYNCED');
      other.close();

      // A closed watch gives its place back.
      watches.pop()!.close();
      await waitUntil(
        'a watch to be allowed again',
        async () => {
          const again = watchProvidersGrpc(api.discovery, stack.apiKey);
          await waitUntil('an event or the end', () => again.events.length > 0 || again.end !== undefined, 10_000);
          const ok = again.end === undefined;
          if (ok) watches.push(again);
          return ok;
        },
        10_000,
        100,
      );
    } finally {
      for (const w of watches) w.close();
    }
  });
});

function httpGet(port: number, path: string, agent: Agent): Promise<{ status: number; body: string }> {
  return httpCall(port, 'GET', path, agent, undefined);
}

function httpPostStream(port: number, path: string, agent: Agent, body: unknown): Promise<{ status: number; body: string }> {
  return httpCall(port, 'POST', path, agent, JSON.stringify(body));
}

function httpCall(port: number, method: string, path: string, agent: Agent, body: string | undefined): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${stack.apiKey}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const req = request({ host: '127.0.0.1', port, method, path, agent, headers });
    req.once('error', reject);
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.end(body);
  });
}
