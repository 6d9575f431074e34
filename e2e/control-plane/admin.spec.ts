import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Code, ConnectError } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CallerApi,
  ControlPlaneApi,
  REPO_ROOT,
  type Server,
  cleanupAll,
  connectDiscoveryClient,
  grpcError,
  providerView,
  startAgent,
  startHttpRecorder,
  startServer,
  statusName,
  waitUntil,
} from '@st/testing';

/**
 * The operator's side of st-server: the services its gRPC port offers, the admin token it makes
 * on first start (no ST_ADMIN_TOKEN), what the admin and users may each do, upstream API keys
 * that go to the model server and nowhere else, and CORS for browsers calling discovery.
 */

const run = promisify(execFile);
const BUF = join(REPO_ROOT, 'node_modules', '.bin', 'buf');
const ALLOWED_ORIGIN = 'https://chat.example.com';
const ADMIN_LINE = /^st-server: admin token \(shown once[^)]*\): (\S+)$/;

let server: Server;
let api: ControlPlaneApi;
let adminToken: string;
let admin: CallerApi;

beforeAll(async () => {
  server = await startServer({ ST_CORS_ORIGINS: `${ALLOWED_ORIGIN}, https://other.example.com`, ST_HEALTH_INTERVAL_MS: 300, ST_SHUTDOWN_GRACE_MS: 500 });
  const [, token] = await server.process.waitForLine(ADMIN_LINE, { timeoutMs: 1_000 });
  adminToken = token;
  api = new ControlPlaneApi(server.grpcPort!);
  admin = api.as(adminToken);
});

afterAll(async () => {
  api?.close();
  await cleanupAll();
});

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('the gRPC port', () => {
  it('lists every service through server reflection', async () => {
    const { stdout } = await run(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--list-services', `http://127.0.0.1:${server.grpcPort}`], { timeout: 20_000 });
    expect(stdout.trim().split('\n')).toEqual(
      expect.arrayContaining([
        'sessiontunnel.v1.TunnelService',
        'sessiontunnel.v1.RelayService',
        'sessiontunnel.v1.ProviderDiscoveryService',
        'sessiontunnel.v1.UserService',
        'sessiontunnel.v1.SessionService',
        'sessiontunnel.v1.TunnelManagerService',
        'grpc.health.v1.Health',
        'grpc.reflection.v1.ServerReflection',
      ]),
    );
  });
});

describe('the admin token made on first start', () => {
  it('is printed once, in its recognisable form, and manages users', async () => {
    expect(adminToken).toMatch(/^st_admin_[A-Za-z0-9_-]{20,}$/);
    const printed = server.process.lines.filter((l) => l.text.includes(adminToken));
    expect(printed).toHaveLength(1);
    const created = await admin.createUser('carol');
    expect(created.apiKey).toMatch(/^st_key_/);
    expect((await admin.listUsers()).users.map((u) => u.name)).toContain('carol');
  });
});

describe('who may do what', () => {
  it('keeps users out of user management and the admin out of users’ resources', async () => {
    const { apiKey, user } = await admin.createUser('dave');
    const dave = api.as(apiKey);
    for (const [what, call] of [
      ['CreateUser', () => dave.createUser('mallory')],
      ['ListUsers', () => dave.listUsers()],
      ['CreateApiKey', () => dave.createApiKey(user!.id)],
      ['RevokeApiKeys', () => dave.revokeApiKeys(user!.id)],
    ] as const) {
      expect(statusName((await grpcError(call())).code), `${what} with a user's key`).toBe('PERMISSION_DENIED');
    }
    for (const [what, call] of [
      ['ListProviders', () => admin.listProviders()],
      ['StartSession', () => admin.startSession('admin-session')],
      ['ListTunnels', () => admin.listTunnels()],
    ] as const) {
      expect(statusName((await grpcError(call())).code), `${what} with the admin token`).toBe('PERMISSION_DENIED');
    }
    const connect = connectDiscoveryClient(server.publicUrl!);
    const refused = await connect.listProviders({}, { headers: { authorization: `Bearer ${adminToken}` } }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ConnectError);
    expect((refused as ConnectError).code).toBe(Code.PermissionDenied);
    // The admin token is no key for the gateway either.
    expect((await fetch(`${server.publicUrl}/v1/models`, { headers: { authorization: `Bearer ${adminToken}` } })).status).toBe(401);
    // Without credentials nothing answers.
    expect(statusName((await grpcError(api.as(undefined).listProviders())).code)).toBe('UNAUTHENTICATED');
    expect(statusName((await grpcError(api.as(undefined).createUser('eve'))).code)).toBe('UNAUTHENTICATED');

    // Revoked keys stop working everywhere at once; a new key works.
    expect(await dave.listProviders()).toEqual([]);
    expect((await admin.revokeApiKeys(user!.id)).revoked).toBe(1);
    expect(statusName((await grpcError(dave.listProviders())).code)).toBe('UNAUTHENTICATED');
    expect((await fetch(`${server.publicUrl}/v1/models`, { headers: { authorization: `Bearer ${apiKey}` } })).status).toBe(401);
    const { apiKey: fresh } = await admin.createApiKey(user!.id);
    expect(await api.as(fresh).listProviders()).toEqual([]);
  });
});

describe('an upstream API key', () => {
  it('is never shown again, is not stored in clear, and reaches the model server instead of the caller’s key', async () => {
    const upstreamKey = `sk-upstream-${Date.now().toString(36)}-secret`;
    const modelServer = await startHttpRecorder((req, res) => {
      const send = (status: number, body: unknown) => {
        const text = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      if (req.headers.authorization !== `Bearer ${upstreamKey}`) return send(401, { error: { message: 'Incorrect API key provided.', type: 'authentication_error' } });
      if (req.url === '/v1/models') return send(200, { object: 'list', data: [{ id: 'keyed-model', object: 'model' }] });
      const { model } = JSON.parse(req.body || '{}') as { model?: string };
      send(200, { id: 'chatcmpl-1', object: 'chat.completion', model, choices: [{ index: 0, message: { role: 'assistant', content: 'recorded' }, finish_reason: 'stop' }] });
    });
    const { apiKey } = await admin.createUser('erin');
    const erin = api.as(apiKey);
    const session = await erin.startSession('gpu');
    const created = await erin.createTunnel({ sessionId: session.id, name: 'keyed', remotePort: modelServer.port, remoteHost: '127.0.0.1', openai: true, upstreamApiKey: upstreamKey });
    expect(created.tunnel?.hasUpstreamApiKey).toBe(true);
    const shown = [
      JSON.stringify(created.tunnel),
      JSON.stringify(await erin.getTunnel(created.tunnel!.id)),
      JSON.stringify(await erin.listTunnels()),
      JSON.stringify(await erin.listProviders()),
    ];
    for (const text of shown) expect(text).not.toContain(upstreamKey);
    expect((await erin.getTunnel(created.tunnel!.id)).hasUpstreamApiKey).toBe(true);

    await startAgent({ ST_BROKER_URL: `http://127.0.0.1:${server.grpcPort}`, ST_TUNNEL_TOKEN: created.agentToken, ST_RECONNECT_MAX_MS: 500 });
    // The agent's probes carry the key, or the model server would answer 401 and be unhealthy.
    await waitUntil('the keyed provider to be healthy', async () => {
      const p = (await erin.listProviders()).map(providerView).find((x) => x.name === 'keyed');
      return p?.healthy && p.models.join() === 'keyed-model';
    }, 3_000);

    const res = await fetch(`${server.publicUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      body: JSON.stringify({ model: 'keyed/keyed-model', messages: [{ role: 'user', content: 'hi' }] }),
    });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    expect(JSON.parse(text)).toMatchObject({ model: 'keyed-model', choices: [{ message: { content: 'recorded' } }] });

    const chats = modelServer.requests.filter((r) => r.url === '/v1/chat/completions');
    expect(chats).toHaveLength(1);
    expect(chats[0].headers.authorization).toBe(`Bearer ${upstreamKey}`);
    for (const r of modelServer.requests) {
      expect(r.headers.authorization).toBe(`Bearer ${upstreamKey}`);
      expect(JSON.stringify(r.headers)).not.toContain(apiKey);
    }
    // Encrypted at rest: no file of the server's data directory holds the key in clear.
    for (const file of filesUnder(server.dataDir)) {
      expect(readFileSync(file).includes(upstreamKey), file).toBe(false);
    }
  });
});

describe('CORS for the Connect face of discovery', () => {
  const url = () => `${server.publicUrl}/sessiontunnel.v1.ProviderDiscoveryService/ListProviders`;
  const preflight = (origin: string) =>
    fetch(url(), {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,connect-protocol-version' },
    });

  it('lets an allowed origin through a preflight and a call', async () => {
    const res = await preflight(ALLOWED_ORIGIN);
    expect(res.status).toBeGreaterThanOrEqual(200);
    expect(res.status).toBeLessThan(300);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect(res.headers.get('access-control-allow-methods')).toMatch(/\bPOST\b/);
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase().split(/,\s*/)).toEqual(
      expect.arrayContaining(['authorization', 'content-type', 'connect-protocol-version']),
    );

    const { apiKey } = await admin.createUser('frank');
    const call = await fetch(url(), {
      method: 'POST',
      headers: { origin: ALLOWED_ORIGIN, 'content-type': 'application/json', 'connect-protocol-version': '1', authorization: `Bearer ${apiKey}` },
      body: '{}',
    });
    expect(call.status).toBe(200);
    expect(call.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN);
    expect(await call.json()).toEqual({});
  });

  it('gives any other origin no CORS headers', async () => {
    for (const origin of ['https://evil.example.com', 'https://chat.example.com.evil.example', 'http://chat.example.com']) {
      const res = await preflight(origin);
      expect(res.headers.get('access-control-allow-origin'), origin).toBeNull();
      expect(res.status, origin).toBeGreaterThanOrEqual(400);
    }
  });
});

describe('a second start on the same data directory', () => {
  it('prints no admin token, and the first one still works', async () => {
    api.close();
    expect(await server.process.stop('SIGTERM', 3_000)).toMatchObject({ code: 0 });
    server = await startServer({ ST_DATA_DIR: server.dataDir, ST_SHUTDOWN_GRACE_MS: 500 });
    api = new ControlPlaneApi(server.grpcPort!);
    expect(server.process.lines.filter((l) => /admin token|st_admin_/.test(l.text))).toEqual([]);
    expect((await api.as(adminToken).listUsers()).users.map((u) => u.name)).toContain('carol');
    expect(statusName((await grpcError(api.as(`st_admin_${'x'.repeat(43)}`).listUsers())).code)).toBe('UNAUTHENTICATED');
  });
});
