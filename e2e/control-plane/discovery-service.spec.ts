import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DiscoveryProcess,
  type FreshDatabase,
  type ManagedProcess,
  type MockModel,
  type ProcessEnv,
  type ProviderWatch,
  REPO_ROOT,
  type Server,
  TestRedisServer,
  cleanupAll,
  connectDiscoveryClient,
  freshDatabase,
  spawnProcess,
  startAgent,
  startDiscovery,
  startMockModel,
  startServer,
  waitUntil,
  watchProvidersConnect,
} from '@st/testing';

/**
 * st-discovery as its own deployable: management and ProviderDiscoveryService on its gRPC port
 * (stctl's ST_SERVER), Connect and probes on its HTTP port, sharing only PostgreSQL and Redis with
 * a broker+gateway process (each process has its own data directory). What discovery writes
 * reaches the gateway through the store and the Redis change feed.
 */

const STCTL = join(REPO_ROOT, 'apps', 'cli', 'bin', 'stctl.js');
const ALLOWED_ORIGIN = 'https://chat.example.com';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function outputOf(proc: ManagedProcess, stream: 'stdout' | 'stderr'): string {
  return proc.lines
    .filter((l) => l.stream === stream)
    .map((l) => `${l.text}\n`)
    .join('');
}

describe('st-discovery beside a broker and gateway, on PostgreSQL and Redis', () => {
  const adminToken = `admin-${randomBytes(16).toString('hex')}`;
  let redis: TestRedisServer;
  let database: FreshDatabase;
  let mock: MockModel;
  let server: Server;
  let discovery: DiscoveryProcess;
  let gatewayUrl: string;
  /** The user's key, their session, and their OpenAI tunnel (created through discovery). */
  let apiKey: string;
  let sessionId: string;
  let tunnelId: string;
  let agentToken: string;
  let agent: ManagedProcess | undefined;

  /** Runs the real stctl binary against discovery's gRPC port. */
  async function stctl(args: string[], env: ProcessEnv): Promise<Run> {
    const proc = spawnProcess({ name: `stctl ${args.join(' ')}`, script: STCTL, args, env: { ST_SERVER: discovery.grpcAddress, ...env } });
    const exit = await proc.exited;
    return { code: exit.code, stdout: outputOf(proc, 'stdout'), stderr: outputOf(proc, 'stderr') };
  }

  async function json(args: string[], env: ProcessEnv): Promise<Record<string, unknown>> {
    const run = await stctl([...args, '--json'], env);
    expect(run.code, `stctl ${args.join(' ')} --json\nstderr: ${run.stderr}`).toBe(0);
    return JSON.parse(run.stdout) as Record<string, unknown>;
  }

  const asAdmin = () => ({ ST_ADMIN_TOKEN: adminToken });
  const asUser = () => ({ ST_API_KEY: apiKey });

  async function chat(): Promise<Response> {
    return fetch(`${gatewayUrl}/t/${tunnelId}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-llama-3-8b', messages: [{ role: 'user', content: 'through discovery' }], max_tokens: 3 }),
    });
  }

  beforeAll(async () => {
    if (!existsSync(join(REPO_ROOT, 'apps', 'cli', 'dist', 'main.js'))) {
      throw new Error('apps/cli/dist/main.js is missing: run npm run build first (end-to-end tests run the built apps)');
    }
    [redis, database, mock] = await Promise.all([TestRedisServer.start(), freshDatabase(), startMockModel({ ST_MOCK_TOKEN_DELAY_MS: 0 })]);
    // What replicas share comes from the environment; each process has its own data directory.
    const shared: ProcessEnv = {
      ST_DATABASE_URL: database.url,
      ST_REDIS_URL: redis.url,
      ST_SERVICE_TOKEN: randomBytes(24).toString('hex'),
      ST_SECRET_KEY: randomBytes(24).toString('hex'),
      ST_ADMIN_TOKEN: adminToken,
      ST_SHUTDOWN_GRACE_MS: 500,
      ST_HEALTH_INTERVAL_MS: 300,
    };
    server = await startServer({ ...shared, ST_ROLE: 'broker,gateway' });
    gatewayUrl = server.publicUrl!;
    discovery = await startDiscovery({ ...shared, ST_PUBLIC_URL: gatewayUrl, ST_CORS_ORIGINS: ALLOWED_ORIGIN });
  }, 60_000);

  afterAll(async () => {
    await cleanupAll();
    await redis?.stop();
    await database?.drop();
  });

  it('serves the management API to stctl as st-server does: user, session, OpenAI tunnel with the gateway\'s base URL', async () => {
    const user = await json(['users', 'create', `dana-${randomBytes(3).toString('hex')}`], asAdmin());
    apiKey = user.apiKey as string;
    const session = await json(['sessions', 'start', '--name', 'lab'], asUser());
    expect(session).toMatchObject({ name: 'lab', status: 'running' });
    sessionId = session.id as string;
    const created = await json(['tunnels', 'create', '--session', sessionId, '--host', '127.0.0.1', '--port', String(mock.port), '--openai'], asUser());
    expect(created).toMatchObject({ sessionId, openai: true, status: 'waiting', connections: [], agentToken: expect.any(String) });
    tunnelId = created.id as string;
    agentToken = created.agentToken as string;
    expect(created.baseUrl).toBe(`${gatewayUrl}/t/${tunnelId}/v1`);

    // Not served here: the broker role's TunnelService. Someone else's key sees nothing.
    const other = await json(['users', 'create', `eve-${randomBytes(3).toString('hex')}`], asAdmin());
    expect((await json(['providers', 'list'], { ST_API_KEY: other.apiKey as string })).providers).toEqual([]);
    expect((await stctl(['tunnels', 'get', tunnelId, '--json'], { ST_API_KEY: other.apiKey as string })).code).toBe(4);
  }, 60_000);

  it('answers the probes and browsers on its HTTP port, with CORS for the allowed origin only', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const res = await fetch(`${discovery.httpUrl}${path}`);
      expect(res.status, path).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok' });
    }
    const unknown = await fetch(`${discovery.httpUrl}/v1/models`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toMatch(/tunnels are on the gateways/);

    const preflight = (origin: string) =>
      fetch(`${discovery.httpUrl}/sessiontunnel.v1.ProviderDiscoveryService/ListProviders`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
      });
    const allowed = await preflight(ALLOWED_ORIGIN);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect((await preflight('https://evil.example.com')).status).toBe(403);

    const { providers } = await connectDiscoveryClient(discovery.httpUrl).listProviders({}, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(providers.map((p) => [p.id, p.baseUrl])).toEqual([[tunnelId, `${gatewayUrl}/t/${tunnelId}/v1`]]);
  });

  it('shows the provider running once its agent holds a stream, with that stream in tunnels get', async () => {
    agent = await startAgent({ ST_BROKER_URL: `http://127.0.0.1:${server.grpcPort}`, ST_TUNNEL_TOKEN: agentToken, ST_RECONNECT_MAX_MS: 500 });
    // Presence written by the broker, read by discovery through Redis (lease, feed event).
    const running = await waitUntil(
      'the provider to be running and healthy through discovery',
      async () => {
        const [p] = (await json(['providers', 'list'], asUser())).providers as Record<string, unknown>[];
        return p?.status === 'running' && p.healthy === true ? p : undefined;
      },
      10_000,
      200,
    );
    expect(running.connections).toEqual([expect.objectContaining({ brokerId: expect.any(String), streamId: expect.any(String), healthy: true, draining: false })]);
    const tunnel = await json(['tunnels', 'get', tunnelId], asUser());
    expect(tunnel.connections).toEqual([
      { brokerId: expect.any(String), streamId: expect.any(String), since: expect.any(String), healthy: true, draining: false, agentInstanceId: expect.any(String) },
    ]);
    const table = await stctl(['tunnels', 'get', tunnelId], asUser());
    expect(table.stdout).toMatch(/^Streams:\s+1$/m);
    expect(table.stdout).toMatch(/^Stream:\s+\S+ {2}stream \S+ {2}since \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ {2}healthy$/m);
    expect((await chat()).status).toBe(200);
  }, 30_000);

  it('stopping the session through discovery makes the gateway answer 503 and a Connect watcher see stopped', async () => {
    const watch: ProviderWatch = watchProvidersConnect(connectDiscoveryClient(discovery.httpUrl), apiKey);
    try {
      await watch.waitFor('SYNCED', (e) => e.change === 'SYNCED');
      const stopped = await json(['sessions', 'stop', sessionId], asUser());
      expect(stopped).toMatchObject({ id: sessionId, status: 'stopped' });
      // The gateway learns it from the store once the feed event (through Redis) drops its cache.
      const refused = await waitUntil(
        'the gateway to refuse the stopped session',
        async () => {
          const res = await chat();
          return res.status === 503 ? ((await res.json()) as { error: { code: string; message: string } }) : undefined;
        },
        5_000,
        50,
      );
      expect(refused.error.code).toBe('tunnel_stopped');
      expect(refused.error.message).toContain(tunnelId);
      await watch.waitFor('the provider stopped', (e) => e.change === 'UPDATED' && e.provider?.status === 'stopped');
      expect((await json(['tunnels', 'get', tunnelId], asUser())).connections).toEqual([]);
    } finally {
      watch.close();
    }
  }, 30_000);

  it('says degraded on /readyz while Redis is down, and ok again once it is back', async () => {
    await redis.stop();
    const degraded = await waitUntil(
      '/readyz to say degraded',
      async () => {
        const body = (await (await fetch(`${discovery.httpUrl}/readyz`)).json()) as { status: string; reason?: string };
        return body.status === 'degraded' ? body : undefined;
      },
      10_000,
      100,
    );
    expect(degraded.reason).toMatch(/Redis.*ST_REDIS_URL/);
    // Management still works from the store.
    expect((await json(['sessions', 'get', sessionId], asUser())).status).toBe('stopped');
    await redis.restart();
    await waitUntil('/readyz to say ok', async () => ((await (await fetch(`${discovery.httpUrl}/readyz`)).json()) as { status: string }).status === 'ok', 15_000, 100);
  }, 60_000);

  it('stops within its grace period on SIGTERM', async () => {
    await agent?.stop('SIGTERM', 3_000);
    const exit = await discovery.process.stop('SIGTERM', 5_000);
    expect(exit, discovery.process.describe()).toMatchObject({ code: 0, signal: null });
  });
});
