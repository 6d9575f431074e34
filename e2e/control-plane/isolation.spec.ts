import { randomBytes } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CallerApi,
  ControlPlaneApi,
  type Server,
  cleanupAll,
  connectDiscoveryClient,
  grpcError,
  providerView,
  sessionStatusName,
  startAgent,
  startMockModel,
  startServer,
  statusName,
  tunnelStatusName,
  waitUntil,
  watchProvidersConnect,
  watchProvidersGrpc,
  freshDatabase,
} from '@st/testing';

/**
 * Two users on one st-server: the second must not be able to see, name or touch anything of the
 * first, and every refusal must look exactly like the answer for an id or name that does not
 * exist, so that ids cannot even be probed. Run on both stores (SQLite and PostgreSQL), since the
 * ownership checks live in their queries.
 */

const MODEL = 'mock-llama-3-8b';

afterAll(cleanupAll);

/** An id of the same shape as the store's ("t-" and 12 base32 characters) that names nothing. */
function randomId(kind: 's' | 't'): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return `${kind}-${[...randomBytes(12)].map((b) => alphabet[b & 31]).join('')}`;
}

/** A message with `id` replaced, so two refusals can be compared for their shape. */
function shape(message: string, id: string): string {
  return message.split(id).join('<id>');
}


describe.each(['sqlite', 'postgres'] as const)('two users on one server (%s store)', (store) => {
  const adminToken = `admin-${randomBytes(16).toString('hex')}`;
  let server: Server;
  let publicUrl: string;
  let api: ControlPlaneApi;
  let database: { url: string; drop(): Promise<void> } | undefined;
  let alice: CallerApi;
  let bob: CallerApi;
  let bobKey: string;
  /** Alice's session and her provider "alpha", served by a connected agent. */
  let aliceSession: string;
  let aliceTunnel: string;

  beforeAll(async () => {
    database = store === 'postgres' ? await freshDatabase() : undefined;
    const [started, mock] = await Promise.all([
      startServer({ ST_ADMIN_TOKEN: adminToken, ST_HEALTH_INTERVAL_MS: 300, ST_SHUTDOWN_GRACE_MS: 500, ST_DATABASE_URL: database?.url }),
      startMockModel({ ST_MOCK_TOKEN_DELAY_MS: 0 }),
    ]);
    server = started;
    publicUrl = server.publicUrl!;
    api = new ControlPlaneApi(server.grpcPort!);
    const admin = api.as(adminToken);
    const [a, b] = await Promise.all([admin.createUser('alice'), admin.createUser('bob')]);
    alice = api.as(a.apiKey);
    bob = api.as(b.apiKey);
    bobKey = b.apiKey;
    const session = await alice.startSession('lab');
    aliceSession = session.id;
    const { tunnel, agentToken } = await alice.createTunnel({ sessionId: session.id, name: 'alpha', remotePort: mock.port, remoteHost: '127.0.0.1', openai: true });
    aliceTunnel = tunnel!.id;
    await startAgent({ ST_BROKER_URL: `http://127.0.0.1:${server.grpcPort}`, ST_TUNNEL_TOKEN: agentToken, ST_RECONNECT_MAX_MS: 500 });
    await waitUntil('alice’s provider to serve', async () => (await alice.listProviders()).some((p) => p.healthy), 3_000);
  });

  afterAll(async () => {
    api?.close();
    await server?.process.stop('SIGTERM', 2_000);
    await database?.drop();
  });

  it('lists none of the other user’s providers, sessions or tunnels, over gRPC and Connect', async () => {
    expect(await bob.listProviders()).toEqual([]);
    expect((await bob.listSessions()).sessions).toEqual([]);
    expect((await bob.listTunnels()).tunnels).toEqual([]);
    const connect = connectDiscoveryClient(publicUrl);
    const listed = await connect.listProviders({}, { headers: { authorization: `Bearer ${bobKey}` } });
    expect(listed.providers).toEqual([]);
    const models = await fetch(`${publicUrl}/v1/models`, { headers: { authorization: `Bearer ${bobKey}` } });
    expect(models.status).toBe(200);
    expect(((await models.json()) as { data: unknown[] }).data).toEqual([]);
    // …while the owner sees hers.
    expect((await alice.listProviders()).map((p) => providerView(p))).toMatchObject([{ name: 'alpha', status: 'running', healthy: true }]);
  });

  it('watches none of the other user’s providers, over gRPC and Connect', async () => {
    const watches = [watchProvidersGrpc(api.discovery, bobKey), watchProvidersConnect(connectDiscoveryClient(publicUrl), bobKey)];
    try {
      for (const w of watches) expect(w.describe(await w.waitForCount(1))).toEqual(['SYNCED']);
      // Alice's provider changes (stopped and started) while Bob watches…
      await alice.stopTunnel(aliceTunnel);
      await alice.startTunnel(aliceTunnel);
      await waitUntil('alice’s provider to serve again', async () => (await alice.listProviders()).some((p) => p.healthy), 3_000);
      // …then Bob makes a provider of his own, under the very same name: names are per user.
      const session = await bob.startSession('lab');
      const { tunnel } = await bob.createTunnel({ sessionId: session.id, name: 'alpha', remotePort: 9, remoteHost: '127.0.0.1', openai: true });
      for (const w of watches) {
        await w.waitFor('ADDED of bob’s own provider', (e) => e.change === 'ADDED' && e.provider?.id === tunnel!.id);
        // Events come in order, so nothing about Alice's provider can still be on its way.
        expect(w.describe()).toEqual(['SYNCED', 'ADDED alpha waiting']);
        expect(w.events.some((e) => e.provider?.id === aliceTunnel)).toBe(false);
      }
      await bob.deleteTunnel(tunnel!.id);
    } finally {
      for (const w of watches) w.close();
    }
  });

  it('answers NOT_FOUND for the other user’s sessions and tunnels, worded exactly as for ids that do not exist', async () => {
    const cases: [string, (id: string) => Promise<unknown>, string][] = [
      ['GetSession', (id) => bob.getSession(id), aliceSession],
      ['StopSession', (id) => bob.stopSession(id), aliceSession],
      ['RestartSession', (id) => bob.restartSession(id), aliceSession],
      ['ListTunnels of a session', (id) => bob.listTunnels(id), aliceSession],
      ['CreateTunnel in a session', (id) => bob.createTunnel({ sessionId: id, name: 'intruder', remotePort: 9, openai: true }), aliceSession],
      ['GetTunnel', (id) => bob.getTunnel(id), aliceTunnel],
      ['StopTunnel', (id) => bob.stopTunnel(id), aliceTunnel],
      ['StartTunnel', (id) => bob.startTunnel(id), aliceTunnel],
      ['DeleteTunnel', (id) => bob.deleteTunnel(id), aliceTunnel],
    ];
    for (const [what, call, theirs] of cases) {
      const missing = randomId(theirs[0] as 's' | 't');
      const [other, none] = await Promise.all([grpcError(call(theirs)), grpcError(call(missing))]);
      const seen = (e: grpc.ServiceError, id: string) => ({ code: statusName(e.code), message: shape(e.details, id) });
      expect(seen(other, theirs), what).toEqual(seen(none, missing));
      expect(statusName(other.code), what).toBe('NOT_FOUND');
    }
    // None of it touched Alice's things.
    expect(sessionStatusName((await alice.getSession(aliceSession)).status)).toBe('running');
    const tunnel = await alice.getTunnel(aliceTunnel);
    expect({ status: tunnelStatusName(tunnel.status), healthy: tunnel.healthy }).toEqual({ status: 'running', healthy: true });
    expect((await alice.listTunnels()).tunnels.map((t) => t.name)).toEqual(['alpha']);
  });

  it('answers 404 at the gateway for the other user’s tunnel, exactly as for a tunnel that does not exist', async () => {
    const missing = randomId('t');
    const answer = async (id: string, path: string, init: RequestInit = {}) => {
      const res = await fetch(`${publicUrl}/t/${id}${path}`, { ...init, headers: { authorization: `Bearer ${bobKey}`, 'content-type': 'application/json', ...init.headers } });
      return { status: res.status, contentType: res.headers.get('content-type'), body: shape(await res.text(), id) };
    };
    const chatBody = { method: 'POST', body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }) };
    for (const [path, init] of [['/v1/models', {}], ['/v1/chat/completions', chatBody]] as const) {
      const theirs = await answer(aliceTunnel, path, init);
      expect(theirs.status, path).toBe(404);
      expect(theirs, path).toEqual(await answer(missing, path, init));
    }
  });

  it('answers 404 on the unified endpoint for the other user’s provider name, exactly as for an unknown provider', async () => {
    const ask = async (provider: string) => {
      const res = await fetch(`${publicUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bobKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: `${provider}/${MODEL}`, messages: [{ role: 'user', content: 'hi' }] }),
      });
      return { status: res.status, body: shape(await res.text(), provider) };
    };
    const theirs = await ask('alpha');
    expect(theirs.status).toBe(404);
    expect(theirs).toEqual(await ask('nosuchprovider'));
  });
});
