import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AGENT_CONNECTED,
  type CallerApi,
  ControlPlaneApi,
  type ManagedProcess,
  type MockModel,
  type ProviderView,
  type Server,
  cleanupAll,
  grpcError,
  providerView,
  sessionStatusName,
  startAgent,
  startHttpRecorder,
  startMockModel,
  startServer,
  statusName,
  tunnelStatusName,
  waitUntil,
  watchProvidersGrpc,
} from '@st/testing';

/**
 * A user's tunnels becoming AI Chat providers, as a new user meets them: the admin makes the user,
 * the user starts a session and creates tunnels over the management API, st-agent runs with the
 * token (no ST_UPSTREAM_URL: the tunnel's host and port from Welcome are used), and everything
 * is observed from outside, over gRPC and HTTP on 127.0.0.1.
 */

const ADMIN_TOKEN = `admin-${randomBytes(16).toString('hex')}`;
const MODELS = ['mock-llama-3-8b', 'mock-qwen-7b'];
/** How long a provider may take to show a change the agent reports (probes every 300 ms). */
const HEALTH_CHANGE_MS = 2_000;

let server: Server;
let publicUrl: string;
let api: ControlPlaneApi;
let apiKey: string;
let user: CallerApi;

beforeAll(async () => {
  server = await startServer({ ST_ADMIN_TOKEN: ADMIN_TOKEN, ST_HEALTH_INTERVAL_MS: 300, ST_SHUTDOWN_GRACE_MS: 500 });
  publicUrl = server.publicUrl!;
  api = new ControlPlaneApi(server.grpcPort!);
  const created = await api.as(ADMIN_TOKEN).createUser('ada');
  expect(created.apiKey).toMatch(/^st_key_/);
  expect(created.user?.name).toBe('ada');
  apiKey = created.apiKey;
  user = api.as(apiKey);
});

afterAll(async () => {
  api?.close();
  await cleanupAll();
});

function agentFor(agentToken: string, options: { waitForConnected?: boolean } = {}): Promise<ManagedProcess> {
  return startAgent(
    { ST_BROKER_URL: `http://127.0.0.1:${server.grpcPort}`, ST_TUNNEL_TOKEN: agentToken, ST_RECONNECT_MAX_MS: 500 },
    options,
  );
}

async function provider(name: string): Promise<ProviderView | undefined> {
  const p = (await user.listProviders()).find((x) => x.name === name);
  return p && providerView(p);
}

/** Waits until the named provider matches; fails with its last state. */
function providerUntil(name: string, what: string, check: (p: ProviderView) => boolean, timeoutMs: number): Promise<ProviderView> {
  return waitUntil(`provider ${name} ${what}`, async () => {
    const p = await provider(name);
    if (p && check(p)) return p;
    throw new Error(`provider ${name} is ${JSON.stringify(p)}`);
  }, timeoutMs);
}

const isServing = (p: ProviderView) => p.status === 'running' && p.healthy;

function chat(url: string, model: string, key = apiKey, content = 'hello through the tunnel'): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model, messages: [{ role: 'user', content }], max_tokens: 6 }),
  });
}

interface ChatAnswer {
  model: string;
  choices: { message: { content: string } }[];
}

async function chatOk(url: string, model: string): Promise<ChatAnswer> {
  const res = await chat(url, model);
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return JSON.parse(text) as ChatAnswer;
}

async function errorOf(res: Response, status: number): Promise<{ message: string; type: string; code: unknown }> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  return (JSON.parse(text) as { error: { message: string; type: string; code: unknown } }).error;
}

/** A session with a mock model server and an OpenAI tunnel to it whose agent is connected and healthy. */
async function servingProvider(name: string): Promise<{ sessionId: string; tunnelId: string; agentToken: string; mock: MockModel; agent: ManagedProcess }> {
  const [session, mock] = await Promise.all([
    user.startSession(`${name}-session`),
    startMockModel({ ST_MOCK_TOKEN_DELAY_MS: 0, ST_MOCK_MODELS: MODELS.join(',') }),
  ]);
  const { tunnel, agentToken } = await user.createTunnel({ sessionId: session.id, name, remotePort: mock.port, remoteHost: '127.0.0.1', openai: true });
  const agent = await agentFor(agentToken);
  await providerUntil(name, 'running and healthy', isServing, 3_000);
  return { sessionId: session.id, tunnelId: tunnel!.id, agentToken, mock, agent };
}

describe('a tunnel with the OpenAI toggle', () => {
  it('becomes a running, healthy provider with the model server’s models, reachable per tunnel and through the unified endpoint', async () => {
    const [session, mock] = await Promise.all([
      user.startSession('lab'),
      startMockModel({ ST_MOCK_TOKEN_DELAY_MS: 0, ST_MOCK_MODELS: MODELS.join(',') }),
    ]);
    expect(sessionStatusName(session.status)).toBe('running');
    const created = await user.createTunnel({ sessionId: session.id, name: 'llama', remotePort: mock.port, remoteHost: '127.0.0.1', openai: true });
    expect(created.agentToken).toMatch(/^st_agent_/);
    const tunnel = created.tunnel!;
    const baseUrl = `${publicUrl}/t/${tunnel.id}/v1`;
    expect(tunnel).toMatchObject({ name: 'llama', sessionId: session.id, sessionName: 'lab', remoteHost: '127.0.0.1', remotePort: mock.port, openai: true, baseUrl });
    expect(tunnelStatusName(tunnel.status)).toBe('waiting');
    expect(await provider('llama')).toMatchObject({ status: 'waiting', healthy: false, models: [] });

    await agentFor(created.agentToken);
    // The agent reports right after Welcome: the provider serves within about a second.
    const served = await providerUntil('llama', 'running and healthy', isServing, 1_000);
    expect(served).toEqual({
      id: tunnel.id,
      name: 'llama',
      type: 'openai-tunnel',
      status: 'running',
      healthy: true,
      models: MODELS,
      baseUrl,
      sessionId: session.id,
      sessionName: 'lab',
      checked: true,
    });
    const viewed = await user.getTunnel(tunnel.id);
    expect({ status: tunnelStatusName(viewed.status), healthy: viewed.healthy, models: viewed.models, baseUrl: viewed.baseUrl }).toEqual({
      status: 'running',
      healthy: true,
      models: MODELS,
      baseUrl,
    });

    // The unified endpoint lists every model as "<tunnel name>/<model>".
    const listed = await fetch(`${publicUrl}/v1/models`, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(listed.status).toBe(200);
    const ids = ((await listed.json()) as { data: { id: string }[] }).data.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining(MODELS.map((m) => `llama/${m}`)));

    // A chat naming "<tunnel name>/<model>" reaches the model server with the bare model name.
    const direct = (await (await chat(`${mock.url}/v1/chat/completions`, MODELS[1])).json()) as ChatAnswer;
    const unified = await chatOk(`${publicUrl}/v1/chat/completions`, `llama/${MODELS[1]}`);
    expect(unified.model).toBe(MODELS[1]);
    expect(unified.choices[0].message.content).toBe(direct.choices[0].message.content);
    // The tunnel's own base URL serves the same model by its own name.
    const own = await chatOk(`${baseUrl}/chat/completions`, MODELS[1]);
    expect(own.choices[0].message.content).toBe(direct.choices[0].message.content);
    // The prefixed name is meaningless to the model server itself.
    expect((await chat(`${baseUrl}/chat/completions`, `llama/${MODELS[1]}`)).status).toBe(404);
  });
});

describe('a tunnel without the OpenAI toggle', () => {
  it('is never a provider but serves its owner any path, query included', async () => {
    const site = await startHttpRecorder((req, res) => {
      const text = `page ${req.url}`;
      res.writeHead(200, { 'content-type': 'text/plain', 'x-site': 'plain', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
    const session = await user.startSession('web');
    const watch = watchProvidersGrpc(api.discovery, apiKey);
    try {
      const synced = await watch.waitFor('SYNCED', (e) => e.change === 'SYNCED');
      const afterSync = watch.events.indexOf(synced) + 1;

      const { tunnel, agentToken } = await user.createTunnel({ sessionId: session.id, name: 'site', remotePort: site.port, remoteHost: '127.0.0.1', openai: false });
      expect(tunnel).toMatchObject({ openai: false, baseUrl: `${publicUrl}/t/${tunnel!.id}` });
      const agent = await agentFor(agentToken);
      // A plain tunnel's agent sends no health reports; its stream serves as soon as it is welcomed.
      await waitUntil('the plain tunnel to be running', async () => tunnelStatusName((await user.getTunnel(tunnel!.id)).status) === 'running', 1_000);

      const res = await fetch(`${publicUrl}/t/${tunnel!.id}/some/page?x=1`, { headers: { authorization: `Bearer ${apiKey}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-site')).toBe('plain');
      expect(await res.text()).toBe('page /some/page?x=1');
      const received = site.requests.at(-1)!;
      expect(received).toMatchObject({ method: 'GET', url: '/some/page?x=1' });
      // The caller's gateway key stays at the gateway.
      expect(received.headers.authorization).toBeUndefined();
      expect(JSON.stringify(received.headers)).not.toContain(apiKey);
      // Nobody but the agent ever probed it as a model server.
      expect(site.requests.filter((r) => r.url.startsWith('/v1/models'))).toEqual([]);

      expect((await user.listProviders()).map((p) => p.id)).not.toContain(tunnel!.id);
      const models = (await (await fetch(`${publicUrl}/v1/models`, { headers: { authorization: `Bearer ${apiKey}` } })).json()) as { data: { id: string }[] };
      expect(models.data.filter((m) => m.id.startsWith('site/'))).toEqual([]);
      const unified = await errorOf(await chat(`${publicUrl}/v1/chat/completions`, 'site/anything'), 404);
      expect(unified.message).toMatch(/no provider named "site"/);

      // Events arrive in order: once a later provider's ADDED is in, none about the plain tunnel
      // (created, agent come and gone) can follow.
      await agent.stop();
      await user.createTunnel({ sessionId: session.id, name: 'site-marker', remotePort: site.port, remoteHost: '127.0.0.1', openai: true });
      await watch.waitFor('ADDED site-marker', (e) => e.change === 'ADDED' && e.provider?.name === 'site-marker', afterSync);
      expect(watch.events.filter((e) => e.provider?.id === tunnel!.id)).toEqual([]);
    } finally {
      watch.close();
    }
  });
});

describe('stopping a session', () => {
  it('stops its provider (503 saying what to do) and drops its agent; restarting session and tunnel brings it back', async () => {
    const { sessionId, tunnelId, agent } = await servingProvider('stoppable');
    const model = `stoppable/${MODELS[0]}`;

    const stopped = await user.stopSession(sessionId);
    expect(sessionStatusName(stopped.status)).toBe('stopped');
    expect(await provider('stoppable')).toMatchObject({ status: 'stopped', healthy: false });
    expect(tunnelStatusName((await user.getTunnel(tunnelId)).status)).toBe('stopped');
    for (const url of [`${publicUrl}/v1/chat/completions`, `${publicUrl}/t/${tunnelId}/v1/chat/completions`]) {
      const error = await errorOf(await chat(url, url.includes('/t/') ? MODELS[0] : model), 503);
      expect(error.message).toMatch(/restart the session and its tunnel/);
    }
    // The agent was dropped and keeps knocking, refused while the session is stopped.
    await agent.waitForLine(/"msg":"broker connection lost; reconnecting with backoff"/);
    await agent.waitForLine(/is stopped: restart the session and its tunnel/, { timeoutMs: 3_000 });
    expect(agent.exit).toBeUndefined();
    // Nothing new can be made in a stopped session, and its tunnels cannot start before it does.
    expect(statusName((await grpcError(user.createTunnel({ sessionId, name: 'too-late', openai: true }))).code)).toBe('FAILED_PRECONDITION');
    expect(statusName((await grpcError(user.startTunnel(tunnelId))).code)).toBe('FAILED_PRECONDITION');

    const restarted = await user.restartSession(sessionId);
    expect(sessionStatusName(restarted.status)).toBe('running');
    // The tunnel stays stopped until it is started.
    expect(tunnelStatusName((await user.getTunnel(tunnelId)).status)).toBe('stopped');
    expect((await chat(`${publicUrl}/v1/chat/completions`, model)).status).toBe(503);

    const started = await user.startTunnel(tunnelId);
    expect(['waiting', 'running']).toContain(tunnelStatusName(started.status));
    await providerUntil('stoppable', 'running and healthy again', isServing, 3_000);
    expect(agent.exit).toBeUndefined();
    expect((await chatOk(`${publicUrl}/v1/chat/completions`, model)).model).toBe(MODELS[0]);
  });
});

describe('a model server that goes down', () => {
  it('makes its provider unhealthy and requests fail with 502 naming its address; it recovers when the server is back', async () => {
    const { tunnelId, mock } = await servingProvider('flaky');
    const address = `127.0.0.1:${mock.port}`;
    await mock.process.kill();

    const down = await providerUntil('flaky', 'unhealthy', (p) => !p.healthy, HEALTH_CHANGE_MS);
    // The agent is still there: the tunnel runs, its model server does not.
    expect(down.status).toBe('running');
    const error = await errorOf(await chat(`${publicUrl}/v1/chat/completions`, `flaky/${MODELS[0]}`), 502);
    expect(error.message).toContain(address);
    const own = await errorOf(await chat(`${publicUrl}/t/${tunnelId}/v1/chat/completions`, MODELS[0]), 502);
    expect(own.message).toContain(address);

    await startMockModel({ ST_MOCK_PORT: mock.port, ST_MOCK_TOKEN_DELAY_MS: 0, ST_MOCK_MODELS: MODELS.join(',') });
    const up = await providerUntil('flaky', 'healthy again', isServing, HEALTH_CHANGE_MS);
    expect(up.models).toEqual(MODELS);
    expect((await chatOk(`${publicUrl}/v1/chat/completions`, `flaky/${MODELS[0]}`)).model).toBe(MODELS[0]);
  });
});

describe('deleting a tunnel', () => {
  it('ends its agent with exit code 3, and its token admits no agent any more', async () => {
    const { tunnelId, agentToken, agent } = await servingProvider('doomed');
    await user.deleteTunnel(tunnelId);

    const exit = await Promise.race([agent.exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 3_000))]);
    expect(exit, agent.describe()).toEqual({ code: 3, signal: null });
    expect(agent.lines.map((l) => l.text).join('\n')).toMatch(/refused the tunnel token/);
    expect(await provider('doomed')).toBeUndefined();
    const gone = await grpcError(user.getTunnel(tunnelId));
    expect(statusName(gone.code)).toBe('NOT_FOUND');

    // A new agent with the old token is refused at once.
    const startedAt = performance.now();
    const again = await agentFor(agentToken, { waitForConnected: false });
    expect(await again.exited, again.describe()).toEqual({ code: 3, signal: null });
    // At once, not after backoff retries (a bound for a busy machine: the start alone takes ~1 s).
    expect(performance.now() - startedAt).toBeLessThan(10_000);
    expect(again.lines.some((l) => AGENT_CONNECTED.test(l.text))).toBe(false);
  });
});
