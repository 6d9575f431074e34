import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ControlPlaneApi,
  type MockModel,
  NspawnContainer,
  REPO_ROOT,
  cleanupAll,
  ensureRootfs,
  startAgent,
  startMockModel,
  waitForTunnel,
  waitUntil,
} from '@st/testing';
import { processUser, requireContainers, skip, skipNote, waitForUnit } from './support';

/**
 * deploy/systemd/st-server.service under a real systemd: install-server.sh run inside a booted
 * Debian container installs the built repository and the units; st-server runs there as a
 * dynamic user with its SQLite data in the StateDirectory, and an agent and the mock model on
 * the host (same network) serve a tunnel through it. The tests run in order on one container.
 */

const MODEL = 'mock-llama-3-8b';
const UNIT = 'st-server.service';
const SRC = '/src';
const ADMIN_TOKEN = `admin-${randomBytes(16).toString('hex')}`;

let container: NspawnContainer | undefined;
let mock: MockModel;
let ports: { http: number; grpc: number };

beforeAll(async () => {
  if (skip) return;
  requireContainers();
  await ensureRootfs();
  mock = await startMockModel({ ST_MOCK_TOKEN_DELAY_MS: 0 });
  // install-server.sh copies the built repository (bundles and node_modules) from /src.
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
}, 60_000);

function box(): NspawnContainer {
  if (!container) throw new Error('the container did not boot (see beforeAll)');
  return container;
}

/**
 * The ports st-server bound (it listens on 0: the container shares the host's ports), from the
 * ready line of the unit's current run (its invocation id: an earlier run's line has old ports).
 */
async function boundPorts(): Promise<{ http: number; grpc: number }> {
  const c = box();
  const { InvocationID } = await c.show(UNIT, ['InvocationID']);
  return waitUntil(`st-server ready: … in the journal of run ${InvocationID}`, async () => {
    const log = await c.run(['journalctl', '--no-pager', '-o', 'cat', `_SYSTEMD_INVOCATION_ID=${InvocationID}`]);
    const m = /st-server ready: gateway http:\/\/127\.0\.0\.1:(\d+) grpc 127\.0\.0\.1:(\d+)/.exec(log);
    return m ? { http: Number(m[1]), grpc: Number(m[2]) } : undefined;
  }, 20_000, 100);
}

describe.skipIf(skip)(`st-server.service under a real systemd${skipNote}`, () => {
  it('install-server.sh installs the units; st-server starts as a dynamic user with its state directory', async () => {
    const c = box();
    const out = await c.run(['bash', `${SRC}/deploy/systemd/install-server.sh`]);
    expect(out).toContain('installed the server into /opt/session-tunnels/server');
    expect((await c.show(UNIT, ['UnitFileState'])).UnitFileState).toBe('enabled');
    expect(await c.run(['stat', '-c', '%a %U', '/etc/session-tunnels/secrets.env'])).toBe('600 root\n');

    // The operator's settings: loopback, any free port, the admin token as a shared secret.
    await c.run(['sh', '-c', 'cat >> /etc/session-tunnels/server.env'], 'ST_HOST=127.0.0.1\nST_HTTP_PORT=0\nST_GRPC_PORT=0\nST_SHUTDOWN_GRACE_MS=1000\n');
    await c.run(['sh', '-c', 'cat >> /etc/session-tunnels/secrets.env'], `ST_ADMIN_TOKEN=${ADMIN_TOKEN}\n`);
    await c.run(['systemctl', 'start', UNIT]);
    const u = await waitForUnit(c, UNIT, 'st-server active', (x) => x.ActiveState === 'active' && x.SubState === 'running', 20_000);
    ports = await boundPorts();

    const user = await processUser(c, u.MainPID);
    expect(user.uid).toBeGreaterThan(0);
    expect(user.name).toBe('st-server');
    // DynamicUser's StateDirectory lives under /var/lib/private, owned by the dynamic user.
    expect(await c.run(['stat', '-c', '%u %a', '/var/lib/private/session-tunnels'])).toBe(`${user.uid} 700\n`);
    // The secret reached the process only through systemd's EnvironmentFile, not its command line.
    expect(await c.run(['cat', `/proc/${u.MainPID}/cmdline`])).not.toContain(ADMIN_TOKEN);
  }, 120_000);

  it('serves a tunnel to an agent on the host, and keeps it across a restart of the unit', async () => {
    const c = box();
    const api = new ControlPlaneApi(ports.grpc);
    try {
      const admin = api.as(ADMIN_TOKEN);
      const { apiKey } = await admin.createUser('alice');
      const alice = api.as(apiKey);
      const session = await alice.startSession('in-a-unit');
      const { tunnel, agentToken } = await alice.createTunnel({ sessionId: session.id, name: 'm', remoteHost: '127.0.0.1', remotePort: mock.port, openai: true });
      const agentEnv = { ST_BROKER_URL: `http://127.0.0.1:${ports.grpc}`, ST_TUNNEL_TOKEN: agentToken, ST_RECONNECT_MAX_MS: 500 };
      const agent = await startAgent(agentEnv, { timeoutMs: 15_000 });
      const baseURL = `http://127.0.0.1:${ports.http}/t/${tunnel!.id}/v1`;
      await waitForTunnel(baseURL, apiKey);
      const ask = async () => {
        const res = await fetch(`${baseURL}/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 }),
        });
        return { status: res.status, text: await res.text() };
      };
      const first = await ask();
      expect(first.status, first.text).toBe(200);

      // SIGTERM is a clean stop (not a failure), and the SQLite state survives in the StateDirectory.
      await c.run(['systemctl', 'stop', UNIT]);
      const stopped = await c.show(UNIT, ['ActiveState', 'Result']);
      expect(stopped).toEqual({ ActiveState: 'inactive', Result: 'success' });
      await agent.stop('SIGTERM', 2_000);
      await c.run(['systemctl', 'start', UNIT]);
      ports = await boundPorts();
      const again = new ControlPlaneApi(ports.grpc);
      try {
        expect((await again.as(apiKey).getTunnel(tunnel!.id)).id).toBe(tunnel!.id);
      } finally {
        again.close();
      }
      await startAgent({ ...agentEnv, ST_BROKER_URL: `http://127.0.0.1:${ports.grpc}` }, { timeoutMs: 15_000 });
      const after = `http://127.0.0.1:${ports.http}/t/${tunnel!.id}/v1`;
      await waitForTunnel(after, apiKey);
    } finally {
      api.close();
    }
  }, 120_000);
});
