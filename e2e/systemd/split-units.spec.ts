import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ControlPlaneApi,
  type MockModel,
  NspawnContainer,
  REPO_ROOT,
  cleanupAll,
  closedPort,
  portIsFree,
  ensureRootfs,
  startAgent,
  startMockModel,
  waitForTunnel,
  waitUntil,
} from '@st/testing';
import { processUser, requireContainers, skip, skipNote, waitForUnit } from './support';

/**
 * deploy/systemd/st-broker.service and st-gateway.service under a real systemd: both roles in
 * one booted container on the host's PostgreSQL (a database of its own), secrets shared through
 * secrets.env, the gateway reaching the broker at its address; an agent and the mock model on
 * the host serve a tunnel through them.
 */

const MODEL = 'mock-llama-3-8b';
const SRC = '/src';
/** The development PostgreSQL service (trust auth); ST_TEST_DATABASE_URL points elsewhere. */
const POSTGRES_URL = process.env.ST_TEST_DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/test';
const ADMIN_TOKEN = `admin-${randomBytes(16).toString('hex')}`;

let container: NspawnContainer | undefined;
let mock: MockModel;
let database: { url: string; drop(): Promise<void> } | undefined;

async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `st_systemd_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: POSTGRES_URL });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(`PostgreSQL is not reachable at ${POSTGRES_URL.replace(/\/\/[^@]*@/, '//…@')}: ${(err as Error).message}. Start the local service or set ST_TEST_DATABASE_URL.`);
  }
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new Client({ connectionString: POSTGRES_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

beforeAll(async () => {
  if (skip) return;
  requireContainers();
  await ensureRootfs();
  [mock, database] = await Promise.all([startMockModel({ ST_MOCK_TOKEN_DELAY_MS: 0 }), freshDatabase()]);
  container = await NspawnContainer.boot({
    readOnly: [
      { host: process.execPath, container: '/usr/bin/node' },
      { host: REPO_ROOT, container: SRC },
    ],
  });
}, 300_000);

afterAll(async () => {
  await container?.destroy();
  await cleanupAll();
  await database?.drop();
}, 60_000);

function box(): NspawnContainer {
  if (!container) throw new Error('the container did not boot (see beforeAll)');
  return container;
}

const active = (u: Record<string, string>) => u.ActiveState === 'active' && u.SubState === 'running';

describe.skipIf(skip)(`st-broker.service and st-gateway.service under a real systemd${skipNote}`, () => {
  it('install-server.sh --enable broker,gateway --now: both run as dynamic users and serve a tunnel', async () => {
    const c = box();
    // Fixed ports: the gateway is told where the broker is, and the container shares the host's ports.
    const [grpc, http] = [await closedPort(), await closedPort()];
    await c.writeFile(
      '/etc/session-tunnels/secrets.env',
      `ST_DATABASE_URL=${database!.url}\nST_SERVICE_TOKEN=${randomBytes(24).toString('hex')}\nST_SECRET_KEY=${randomBytes(24).toString('hex')}\nST_ADMIN_TOKEN=${ADMIN_TOKEN}\n`,
      '0600',
    );
    await c.writeFile('/etc/session-tunnels/broker.env', `ST_HOST=127.0.0.1\nST_GRPC_PORT=${grpc}\nST_ADVERTISE_ADDRESS=127.0.0.1:${grpc}\n`, '0600');
    await c.writeFile(
      '/etc/session-tunnels/gateway.env',
      `ST_HOST=127.0.0.1\nST_HTTP_PORT=${http}\nST_PUBLIC_URL=http://127.0.0.1:${http}\nST_BROKER_ADDRESS=127.0.0.1:${grpc}\n`,
      '0600',
    );
    const out = await c.run(['bash', `${SRC}/deploy/systemd/install-server.sh`, '--enable', 'broker,gateway', '--now']);
    expect(out).toContain('kept /etc/session-tunnels/broker.env (already there)');

    for (const unit of ['st-broker.service', 'st-gateway.service']) {
      const u = await waitForUnit(c, unit, `${unit} active`, active, 20_000);
      const user = await processUser(c, u.MainPID);
      expect(user.uid, unit).toBeGreaterThan(0);
      expect((await c.run(['cat', `/proc/${u.MainPID}/cmdline`])).includes(ADMIN_TOKEN), unit).toBe(false);
    }

    // Type=exec: active once node runs, which is before it listens.
    await waitUntil(`the broker on ${grpc} and the gateway on ${http} to listen`, async () => !(await portIsFree(grpc)) && !(await portIsFree(http)), 20_000, 100);

    // Management is on the broker without Redis (legacy split layout); the gateway relays to it.
    const api = new ControlPlaneApi(grpc);
    try {
      const { apiKey } = await api.as(ADMIN_TOKEN).createUser('alice');
      const alice = api.as(apiKey);
      const session = await alice.startSession('split-units');
      const { tunnel, agentToken } = await alice.createTunnel({ sessionId: session.id, name: 'm', remoteHost: '127.0.0.1', remotePort: mock.port, openai: true });
      await startAgent({ ST_BROKER_URL: `http://127.0.0.1:${grpc}`, ST_TUNNEL_TOKEN: agentToken }, { timeoutMs: 15_000 });
      const baseURL = `http://127.0.0.1:${http}/t/${tunnel!.id}/v1`;
      await waitForTunnel(baseURL, apiKey);
      const res = await fetch(`${baseURL}/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 }),
      });
      const text = await res.text();
      expect(res.status, text).toBe(200);
    } finally {
      api.close();
    }
  }, 120_000);
});
